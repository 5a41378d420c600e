package doctor

import (
	"os"
	"path/filepath"

	"homepost/config"
	"homepost/maildir"
)

// checkSetAside lists the records of mbox rewrites that were set aside
// (".unapplied"): a crash stopped mail's rewrite of an mbox, and
// another program changed the mbox before homepost could finish it, so
// the record was kept rather than written over that program's work. It
// may hold the only whole copy of mail the torn mbox lost, and only the
// user can tell: each is a warning that says where its new contents
// lie and what to do. Looked for beside the mboxes homepost knows of
// (the store, $MAIL, ~/mbox or $MBOX, and any other mbox in their
// directories and in ~/mail, mail's default folder directory) and in
// the state directory, where records of spool mboxes are kept.
func checkSetAside(c *checker, cfg *config.Config) {
	dirs, mboxes := mboxPlaces(cfg)
	for _, a := range maildir.SetAside(dirs, mboxes) {
		c.warn("mbox", "%s", a.Advice())
	}
}

// mboxPlaces returns the mboxes homepost knows of (the store when it is
// one, $MAIL, $MBOX, ~/mbox) and the directories where records of their
// rewrites may lie beside them: theirs, those of the files their links
// name, the home directory and ~/mail. Looking only there keeps check
// quick.
func mboxPlaces(cfg *config.Config) (dirs, mboxes []string) {
	if kind, path := cfg.StoreKind(); kind != "maildir" {
		mboxes = append(mboxes, path)
	}
	for _, v := range []string{os.Getenv("MAIL"), os.Getenv("MBOX")} {
		if filepath.IsAbs(v) {
			mboxes = append(mboxes, v)
		}
	}
	mboxes = append(mboxes, filepath.Join(cfg.Home, "mbox"))
	dirs = []string{cfg.Home, filepath.Join(cfg.Home, "mail")}
	for _, m := range mboxes {
		dirs = append(dirs, filepath.Dir(m))
		// A record is kept beside the file a link names.
		if real, err := filepath.EvalSymlinks(m); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
	}
	return dirs, mboxes
}

package forwarder

import (
	"fmt"
	"log/slog"

	"homepost/config"
)

// Loops returns a warning, with its file and line, for each alias of
// the user's aliases file whose mail can only come back to it (a -> b ->
// a, an alias to itself): every message to it bounces with 5.4.6 "alias
// loop". newaliases and homepost check say so when the file is written,
// where the user otherwise learns it from the first bounce. (sendmail
// and Postfix do not look; their loops show as bounces too.)
func Loops(cfg *config.Config) []error {
	p := readParsed(cfg.Aliases, aliasesFile, cfg.UID, cfg.User, false)
	if !p.usable() {
		return nil
	}
	f := New(cfg, slog.New(slog.DiscardHandler))
	var out []error
	for _, a := range p.aliases {
		for _, t := range f.Resolve(a.name, nil) {
			if t.Kind == Fail && t.Result.DSN == "5.4.6" {
				out = append(out, fmt.Errorf("%s:%d: %s: every message bounces: %s", cfg.Aliases, a.line, a.name, t.Result.Reason))
				break
			}
		}
	}
	return out
}

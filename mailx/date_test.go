package mailx

import (
	"net/mail"
	"testing"
)

func TestParseDateFastAgreesWithNetMail(t *testing.T) {
	for _, s := range []string{
		"Sat, 2 Jan 2021 08:50:00 +0000",
		"Sat, 02 Jan 2021 08:50:00 +0100",
		"2 Jan 2021 08:50 -0730",
		"Mon,  7 Feb 2022 23:59:59 +0000 (UTC)",
		"Tue, 3 Mar 2020 01:02:03 +0530",
	} {
		got, ok := parseDateFast(s)
		want, err := mail.ParseDate(s)
		if !ok || err != nil || !got.Equal(want) {
			t.Errorf("%q: fast %v %v, net/mail %v %v", s, got, ok, want, err)
		}
	}
	for _, s := range []string{"", "yesterday", "Sat, 2 Foo 2021 08:50:00 +0000", "2 Jan 2021 08:50:00 GMT"} {
		if _, ok := parseDateFast(s); ok {
			t.Errorf("%q: fast parser accepted it", s)
		}
	}
}

func FuzzParseDate(f *testing.F) {
	f.Add("Sat, 2 Jan 2021 08:50:00 +0000")
	f.Add("2 Jan 2021 08:50 -0730")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseDateFast(s)
		if !ok {
			return
		}
		if want, err := mail.ParseDate(s); err == nil && !got.Equal(want) {
			t.Errorf("%q: fast %v, net/mail %v", s, got, want)
		}
	})
}

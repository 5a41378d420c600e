package relay

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// errUTF8Local is an address whose local part is in UTF-8: it has no
// ASCII form (RFC 6530 defines none, unlike a domain's), so only a
// server that offers SMTPUTF8 takes it.
var errUTF8Local = errors.New("its local part is in UTF-8")

// idnaLookup turns a domain in UTF-8 into its A-labels as a lookup does
// (RFC 5891 section 5): with the mapping of UTS #46 (case, width,
// normalization) and its nontransitional processing, so that ß stays
// ß (straße.example is xn--strae-oqa.example, not strasse.example), as
// Postfix converts names for its DNS lookups since 3.2
// (enable_idna2003_compatibility = no) and as browsers do. The DNS
// length limits are checked too, as Postfix checks a converted name
// (valid_hostname): a name that no lookup could find is refused here
// with its reason rather than sent.
var idnaLookup = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.BidiRule(), idna.VerifyDNSLength(true))

// asciiPath is addr as it may go in MAIL FROM or RCPT TO to a server
// that does not offer SMTPUTF8, which must be given no address in UTF-8
// (RFC 6531 section 3.2). An address in ASCII goes as it is. A domain
// in UTF-8 has an ASCII form that names the same domain, its A-labels
// (RFC 5890 section 2.3.2.1): user@bücher.example goes as
// user@xn--bcher-kva.example, as curl and other clients send it. A
// local part in UTF-8 has none (errUTF8Local), nor has a domain that
// is no valid internationalized domain name (the error says why).
// The local part is what precedes the last @: a quoted one may hold an
// @ of its own.
func asciiPath(addr string) (string, error) {
	if ascii(addr) {
		return addr, nil
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || !ascii(addr[:at]) {
		return "", errUTF8Local
	}
	domain := addr[at+1:]
	if !utf8.ValidString(domain) {
		// idna would read each bad byte as U+FFFD and make a name
		// of that, which is some other domain.
		return "", fmt.Errorf("its domain %q has no ASCII form (A-labels): not valid UTF-8", domain)
	}
	if strings.HasPrefix(domain, "[") {
		return "", fmt.Errorf("its domain %s is an address literal that is not ASCII", domain)
	}
	a, err := idnaLookup.ToASCII(domain)
	if err != nil {
		return "", fmt.Errorf("its domain %s has no ASCII form (A-labels): %w", domain, err)
	}
	if !ascii(a) || a == "" {
		// Not expected of a conversion that succeeded; never send
		// what the server must not be given.
		return "", fmt.Errorf("its domain %s has no ASCII form (A-labels)", domain)
	}
	return addr[:at+1] + a, nil
}

// noUTF8Reason is the reason for refusing addr, which asciiPath could
// not put in ASCII, to a server without SMTPUTF8; what is "sender " or
// "".
func noUTF8Reason(host, what, addr string, err error) string {
	r := fmt.Sprintf("host %s does not support SMTPUTF8, needed for %s%s", host, what, addr)
	if !errors.Is(err, errUTF8Local) {
		r += ": " + err.Error()
	}
	return r
}

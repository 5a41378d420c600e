package smtpd

import "github.com/emersion/go-sasl"

// loginServer is the server side of AUTH LOGIN (draft-murchison-sasl-login),
// which go-sasl has only a client for. The server asks for the user
// name ("Username:") and then the password ("Password:"); a client may
// give the user name with the command (AUTH LOGIN <base64 name>), and
// is then asked for the password only. go-smtp base64-encodes the
// challenges and decodes the responses; it answers "*" (the client gives
// up) with 501 and a response that is not base64 with 501 as well, and
// calls Next no more.
type loginServer struct {
	// check checks the user name and password once both are given.
	check    func(username, password string) error
	step     int
	username string
}

func (l *loginServer) Next(resp []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		if resp == nil {
			// No initial response: ask for the user name.
			l.step = 1
			return []byte("Username:"), false, nil
		}
		l.username, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	case 1:
		l.username, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.check(l.username, string(resp))
	}
	return nil, true, sasl.ErrUnexpectedClientResponse
}

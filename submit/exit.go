package submit

import (
	"errors"
	"os"

	"homepost/outbox"
	"homepost/sysexits"
)

// ExitCode maps an error from Submit to the sysexits(3) status that
// sendmail uses for it: 65 a message or address that cannot be accepted,
// 64 a call that cannot be acted on, 73 an outbox that cannot be created,
// 75 anything that may pass by itself (disk full, I/O error).
func ExitCode(err error) int {
	var te *outbox.TempError
	var de *DataError
	var ue *UsageError
	switch {
	case err == nil:
		return sysexits.OK
	case errors.As(err, &te):
		return sysexits.TempFail
	case errors.As(err, &de):
		return sysexits.DataErr
	case errors.As(err, &ue):
		return sysexits.Usage
	case errors.Is(err, os.ErrPermission), errors.Is(err, os.ErrNotExist):
		return sysexits.CantCreate
	}
	return sysexits.TempFail
}

package mailx

import (
	"testing"

	"homepost/test/testenv"
)

// binary returns the path of the homepost binary, built once per test
// run by testenv.
func binary(tb testing.TB) string {
	tb.Helper()
	return testenv.Program(tb, "homepost")
}

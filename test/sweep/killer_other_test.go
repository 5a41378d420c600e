//go:build !(linux && amd64)

package sweep

// The killer reads system call numbers and registers of linux/amd64.

func (w *world) kill(stdin []byte, sys string, n int, name string, args ...string) outcome {
	return outcome{}
}

func (w *world) startKill(stdin []byte, sys string, n int, name string, args ...string) (term func(), wait func() outcome) {
	return func() {}, func() outcome { return outcome{} }
}

func canKill() string { return "the killer knows only linux/amd64" }

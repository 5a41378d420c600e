package e2e

import "strings"

// unwrapped is mailq's output with every run of white space one space:
// mailq wraps a reason longer than a line, so a phrase of it may be cut
// across lines.
func unwrapped(q string) string { return strings.Join(strings.Fields(q), " ") }

package option

import "testing"

// TestErrorMessageNamesFlagValueAndProblem: the one line a bad option
// stops the start with, the value quoted so that blanks and control bytes
// show.
func TestErrorMessageNamesFlagValueAndProblem(t *testing.T) {
	err := &Error{Flag: "upstream", Value: "ftp://x\n", Problem: "scheme must be http or https"}
	if got, want := err.Error(), `invalid --upstream "ftp://x\n": scheme must be http or https`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

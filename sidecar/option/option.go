package option

import "fmt"

// Error says which option has a bad value and why. Its message is the one
// line a user sees when the start fails.
type Error struct {
	// Flag is the option's flag name, without dashes.
	Flag string
	// Value is the rejected value as given.
	Value string
	// Problem says what is wrong, in words.
	Problem string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid --%s %q: %s", e.Flag, e.Value, e.Problem)
}

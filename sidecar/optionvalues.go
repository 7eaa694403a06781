package sidecar

// The value types of options that are neither strings, numbers, durations
// nor lists: sizes with units (ByteSize) and --max-procs (Procs).

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/body"
)

// ByteSize is a number of bytes written with an optional unit: 1048576,
// 512KiB, 8MiB, 5GiB, 10MB (decimal units are powers of 1000).
type ByteSize int64

var byteUnits = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// UnmarshalText parses a size such as 8MiB.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	factor := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, factor = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("not a size: write a whole number of bytes with an optional unit (512KiB, 8MiB, 1GiB)")
	}
	if n > 0 && factor > (1<<62)/n {
		return fmt.Errorf("size too large")
	}
	*b = ByteSize(n * factor)
	return nil
}

// String writes the size with the largest binary unit that divides it.
func (b ByteSize) String() string { return body.FormatSize(int64(b)) }

// MarshalText writes the size as String does.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// Procs is the --max-procs option: a number of CPUs, 0 for the Go runtime's
// default, or ProcsAuto.
type Procs int

// ProcsAuto is --max-procs auto: the GOMAXPROCS variable when set, else one
// P while the load is light and Go's default while it is not.
const ProcsAuto Procs = -1

// MaxProcsLimit is the largest --max-procs. The Go runtime does not bound
// GOMAXPROCS itself: 2147483647 ends in a slice-bounds panic, 1e8 in an
// out-of-memory kill, and each P costs about 27 KiB even when idle (1024:
// 30 MiB of RSS), while Ps beyond the CPUs there are only add scheduling.
const MaxProcsLimit = 1024

var errProcs = errors.New("must be auto, 0 (Go's default) or a number of CPUs from 1 to " + strconv.Itoa(MaxProcsLimit))

// UnmarshalText parses auto, 0 or a number from 1 to MaxProcsLimit.
func (p *Procs) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	if strings.EqualFold(s, "auto") {
		*p = ProcsAuto
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > MaxProcsLimit {
		return errProcs
	}
	*p = Procs(n)
	return nil
}

// String writes auto or the number.
func (p Procs) String() string {
	if p == ProcsAuto {
		return "auto"
	}
	return strconv.Itoa(int(p))
}

// MarshalText writes the option as String does.
func (p Procs) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Plan says what serve does with GOMAXPROCS under p, given the process's
// GOMAXPROCS variable: set fixed (when above 0), adapt it to the load
// (adaptive: auto without the variable), or leave the Go runtime's own
// choice, which already follows that variable.
func (p Procs) Plan(gomaxprocsVar string) (fixed int, adaptive bool) {
	switch {
	case p == ProcsAuto && strings.TrimSpace(gomaxprocsVar) != "":
		return 0, false
	case p == ProcsAuto:
		return 0, true
	default:
		return int(p), false
	}
}

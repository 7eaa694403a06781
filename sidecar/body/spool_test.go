package body

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"testing/iotest"
)

// testBody is n bytes of the alphabet, over and over.
func testBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// TestSpoolBody: a body of any size, known or not, is held in memory up to
// --body-memory and in a file beyond, hashed, replayed whole any number of
// times, and its file has no name on disk while it is open.
func TestSpoolBody(t *testing.T) {
	const memLimit = 1000
	cases := []struct {
		name     string
		size     int
		hint     int64
		wantFile bool
	}{
		{"EmptyUnknown", 0, -1, false},
		{"SmallKnown", 500, 500, false},
		{"SmallUnknown", 500, -1, false},
		{"ExactlyTheLimit", 1000, 1000, false},
		{"LargeKnownGoesStraightToFile", 5000, 5000, true},
		{"LargeUnknownSpills", 5000, -1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			body := testBody(tc.size)
			sp, err := NewSpool(iotest.HalfReader(bytes.NewReader(body)), tc.hint, Limits{Memory: memLimit, Max: 1 << 20, Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			if sp.InFile() != tc.wantFile || sp.Size() != int64(tc.size) {
				t.Errorf("in file %v, size %d; want %v, %d", sp.InFile(), sp.Size(), tc.wantFile, tc.size)
			}
			if !tc.wantFile && sp.HeldInMemory() > memLimit {
				t.Errorf("%d bytes of memory held for a %d-byte body", sp.HeldInMemory(), tc.size)
			}
			sum := sha256.Sum256(body)
			if sp.Sum() != hex.EncodeToString(sum[:]) {
				t.Error("hash differs")
			}
			for range 2 {
				got, _ := io.ReadAll(sp.Reader())
				if !bytes.Equal(got, body) {
					t.Fatalf("replay gave %d bytes, want %d", len(got), len(body))
				}
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a spool file has a name on disk while open")
			}
		})
	}
	t.Run("TooLarge", func(t *testing.T) {
		_, err := NewSpool(bytes.NewReader(testBody(101)), -1, Limits{Memory: 10, Max: 100, Dir: t.TempDir()})
		var tooLarge *TooLargeError
		if !errors.As(err, &tooLarge) {
			t.Errorf("got %v, want *TooLargeError", err)
		}
	})
	t.Run("ReadError", func(t *testing.T) {
		_, err := NewSpool(iotest.ErrReader(io.ErrUnexpectedEOF), -1, Limits{Memory: 10, Max: 100, Dir: t.TempDir()})
		var readErr *ReadError
		if !errors.As(err, &readErr) {
			t.Errorf("got %v, want *ReadError", err)
		}
	})
	t.Run("UnwritableDir", func(t *testing.T) {
		_, err := NewSpool(bytes.NewReader(testBody(100)), -1, Limits{Memory: 10, Max: 1000, Dir: "/nonexistent-spool-dir"})
		var spoolErr *SpoolError
		if !errors.As(err, &spoolErr) {
			t.Errorf("got %v, want *SpoolError", err)
		}
	})
}

// TestSpoolBodyBudget: a body goes to memory while the budget lasts and to
// its file when it does not, round-trips either way, and gives its memory
// back on Close and on every error.
func TestSpoolBodyBudget(t *testing.T) {
	const memLimit = 1000
	check := func(t *testing.T, sp *Spool, body []byte) {
		t.Helper()
		sum := sha256.Sum256(body)
		got, _ := io.ReadAll(sp.Reader())
		if !bytes.Equal(got, body) || sp.Sum() != hex.EncodeToString(sum[:]) {
			t.Errorf("replay gave %d bytes (hash ok: %v), want %d", len(got), sp.Sum() == hex.EncodeToString(sum[:]), len(body))
		}
	}
	cases := []struct {
		name     string
		size     int
		hint     int64
		memLimit int64 // --body-memory; 0: memLimit
		free     int64 // budget left before the spool starts
		wantFile bool
		wantHeld int64 // reserved by the spool while open
	}{
		{"KnownFits", 500, 500, 0, 1000, false, 500},
		{"KnownBudgetSpent", 500, 500, 0, 499, true, 0},
		{"UnknownFitsInOneBlock", 500, -1, 0, 1000, false, memLimit},
		{"UnknownNeedsAWholeBlock", 300, -1, 0, 999, true, 0},
		{"NoBudgetAtAll", 10, -1, 0, 0, true, 0},
		{"KnownLargeInBlocks", 300 << 10, 300 << 10, 1 << 20, 300 << 10, false, 300 << 10},
		{"UnknownLargeInBlocks", 300 << 10, -1, 1 << 20, 1 << 20, false, 5 * spoolBlock},
		{"UnknownSpillsMidBody", 300 << 10, -1, 1 << 20, 2 * spoolBlock, true, 0},
		{"UnknownSpillsAtBodyMemory", 300 << 10, -1, 100 << 10, 1 << 20, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const taken = 5000
			budget := NewBudget(taken + tc.free)
			budget.reserve(taken)
			body := testBody(tc.size)
			limit := cmp.Or(tc.memLimit, memLimit)
			sp, err := NewSpool(iotest.HalfReader(bytes.NewReader(body)), tc.hint, Limits{Memory: limit, Max: 1 << 20, Dir: t.TempDir(), MemoryTotal: budget})
			if err != nil {
				t.Fatal(err)
			}
			if sp.InFile() != tc.wantFile || budget.InUse()-taken != tc.wantHeld {
				t.Errorf("in file %v holding %d bytes of the budget; want %v, %d", sp.InFile(), budget.InUse()-taken, tc.wantFile, tc.wantHeld)
			}
			if budget.HighWater() > budget.limit {
				t.Errorf("high water %d over the limit %d", budget.HighWater(), budget.limit)
			}
			check(t, sp, body)
			sp.Close()
			sp.Close()
			if budget.InUse() != taken {
				t.Errorf("%d bytes still reserved after Close", budget.InUse()-taken)
			}
		})
	}
	errorCases := []struct {
		name    string
		body    io.Reader
		maxBody int64
		want    any
	}{
		{"ReadErrorMidBody", io.MultiReader(bytes.NewReader(testBody(400)), iotest.ErrReader(io.ErrUnexpectedEOF)), 1500, new(*ReadError)},
		{"TooLargeWhileInMemory", iotest.OneByteReader(bytes.NewReader(testBody(900))), 800, new(*TooLargeError)},
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			budget := NewBudget(10 << 10)
			_, err := NewSpool(tc.body, -1, Limits{Memory: memLimit, Max: tc.maxBody, Dir: t.TempDir(), MemoryTotal: budget})
			if !errors.As(err, tc.want) {
				t.Fatalf("got %v, want %T", err, tc.want)
			}
			if budget.HighWater() == 0 {
				t.Error("the body never took memory: the case does not test the release")
			}
			if budget.InUse() != 0 {
				t.Errorf("%d bytes still reserved after the error", budget.InUse())
			}
		})
	}
	t.Run("UnwritableDirAfterMemory", func(t *testing.T) {
		budget := NewBudget(600)
		_, err := NewSpool(bytes.NewReader(testBody(900)), -1, Limits{Memory: memLimit, Max: 1 << 20, Dir: "/nonexistent-spool-dir", MemoryTotal: budget})
		var spoolErr *SpoolError
		if !errors.As(err, &spoolErr) || budget.InUse() != 0 {
			t.Errorf("got %v with %d bytes reserved, want *SpoolError and 0", err, budget.InUse())
		}
	})
}

// TestSpoolBodyBudgetConcurrent spools many bodies at once against one
// budget: what they hold in memory never passes it, the bodies it cannot
// hold go to files, every body replays intact, and closing them all brings
// the budget back to zero.
func TestSpoolBodyBudgetConcurrent(t *testing.T) {
	const (
		memLimit = 64 << 10
		limit    = 200 << 10
		n        = 40
	)
	budget := NewBudget(limit)
	dir := t.TempDir()
	spools := make([]*Spool, n)
	bodies := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		bodies[i] = testBody(10<<10 + i*1500)
		wg.Add(1)
		go func() {
			defer wg.Done()
			hint := int64(len(bodies[i]))
			if i%2 == 1 {
				hint = -1
			}
			sp, err := NewSpool(iotest.OneByteReader(bytes.NewReader(bodies[i])), hint, Limits{Memory: memLimit, Max: 1 << 20, Dir: dir, MemoryTotal: budget})
			if err != nil {
				t.Error(err)
				return
			}
			spools[i] = sp
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	inFile := 0
	for i, sp := range spools {
		if sp.InFile() {
			inFile++
		}
		if got, _ := io.ReadAll(sp.Reader()); !bytes.Equal(got, bodies[i]) {
			t.Errorf("body %d: replay differs", i)
		}
	}
	// All 40 are open at once, 1.6 MiB in all: most cannot be in memory.
	if budget.InUse() > limit || budget.HighWater() > limit || inFile < n/2 {
		t.Errorf("%d bytes in use, high water %d, %d bodies in files; want at most %d, %d, and at least %d", budget.InUse(), budget.HighWater(), inFile, limit, limit, n/2)
	}
	for _, sp := range spools {
		sp.Close()
	}
	if budget.InUse() != 0 {
		t.Errorf("%d bytes reserved after every spool closed", budget.InUse())
	}
}

// TestSpoolBlocksReusedOnlyAfterLastReader: a closed spool's blocks are not
// handed to the next body while a reader of them is still open (net/http
// may still be writing a request body after RoundTrip returned), so no body
// is ever sent with another's bytes; once the reader closes, they are
// reused.
func TestSpoolBlocksReusedOnlyAfterLastReader(t *testing.T) {
	budget := NewBudget(4 * spoolBlock)
	first := bytes.Repeat([]byte("A"), spoolBlock)
	a, err := NewSpool(bytes.NewReader(first), -1, Limits{Memory: 1 << 20, Max: 1 << 20, Dir: t.TempDir(), MemoryTotal: budget})
	if err != nil {
		t.Fatal(err)
	}
	late := a.Reader() // a write loop that has not finished
	a.Close()
	if budget.InUse() != 0 {
		t.Errorf("%d bytes reserved after Close", budget.InUse())
	}
	b, err := NewSpool(bytes.NewReader(bytes.Repeat([]byte("B"), spoolBlock)), -1, Limits{Memory: 1 << 20, Max: 1 << 20, Dir: t.TempDir(), MemoryTotal: budget})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(late); !bytes.Equal(got, first) {
		t.Fatalf("a reader of a closed spool read %.20q..., want its own body: its blocks were reused under it", got)
	}
	late.Close()
	late.Close()
	b.Close()
	// Now the next body may take them (a sync.Pool may also drop them,
	// so the reuse itself is not asserted).
	c, err := NewSpool(bytes.NewReader(bytes.Repeat([]byte("C"), 2*spoolBlock)), -1, Limits{Memory: 1 << 20, Max: 1 << 20, Dir: t.TempDir(), MemoryTotal: budget})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, _ := io.ReadAll(c.Reader()); !bytes.Equal(got, bytes.Repeat([]byte("C"), 2*spoolBlock)) {
		t.Error("a body in reused blocks reads back wrong")
	}
}

// BenchmarkSpoolBody spools (hashes and holds) a 1 MiB body in memory and
// reads it back, as a hashed upload does, with the body's length declared
// and not.
func BenchmarkSpoolBody(b *testing.B) {
	body := testBody(1 << 20)
	budget := NewBudget(16 << 20)
	dir := b.TempDir()
	for _, hint := range []int64{int64(len(body)), -1} {
		b.Run(fmt.Sprintf("hint=%d", hint), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				sp, err := NewSpool(bytes.NewReader(body), hint, Limits{Memory: 8 << 20, Max: 5 << 30, Dir: dir, MemoryTotal: budget})
				if err != nil {
					b.Fatal(err)
				}
				r := sp.Reader()
				io.Copy(io.Discard, r)
				r.Close()
				sp.Close()
			}
		})
	}
}

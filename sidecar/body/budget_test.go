package body

import (
	"sync"
	"testing"
)

func TestMemoryBudget(t *testing.T) {
	b := NewBudget(100)
	if !b.reserve(60) || !b.reserve(40) {
		t.Fatal("reserving up to the limit failed")
	}
	if b.reserve(1) {
		t.Error("reserved beyond the limit")
	}
	b.release(50)
	if b.reserve(51) || !b.reserve(50) || b.InUse() != 100 {
		t.Errorf("after a release: in use %d, want 100", b.InUse())
	}
	b.release(100)
	if b.InUse() != 0 || b.HighWater() != 100 {
		t.Errorf("in use %d, high water %d; want 0, 100", b.InUse(), b.HighWater())
	}
	unlimited := NewBudget(0)
	if !unlimited.reserve(1<<40) || unlimited.InUse() != 1<<40 {
		t.Error("a budget of 0 must give everything and still count it")
	}
}

// TestMemoryBudgetConcurrent has many goroutines take and give back memory
// at once: the budget's own count never passes its limit, and ends at zero.
func TestMemoryBudgetConcurrent(t *testing.T) {
	const limit = 1000
	b := NewBudget(limit)
	var wg sync.WaitGroup
	var refused sync.Map
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				n := int64(1 + (g*7+i)%97)
				if !b.reserve(n) {
					refused.Store(g, true)
					continue
				}
				if used := b.InUse(); used > limit {
					t.Errorf("%d bytes in use, limit %d", used, limit)
				}
				b.release(n)
			}
		}()
	}
	wg.Wait()
	if b.InUse() != 0 || b.HighWater() > limit {
		t.Errorf("in use %d, high water %d after all goroutines; want 0, at most %d", b.InUse(), b.HighWater(), limit)
	}
}

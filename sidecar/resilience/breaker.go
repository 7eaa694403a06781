package resilience

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker"
)

// State is a circuit breaker's state.
type State int

// The states, in the order of their metric values.
const (
	Closed   State = iota // requests flow; failures are counted
	HalfOpen              // a few probes flow; one failure reopens, enough successes close
	Open                  // requests are refused without touching the upstream
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

func stateOf(s gobreaker.State) State {
	switch s {
	case gobreaker.StateHalfOpen:
		return HalfOpen
	case gobreaker.StateOpen:
		return Open
	}
	return Closed
}

// StateChange is one breaker moving from one state to another.
type StateChange struct {
	Host     string
	From, To State
}

// ErrCircuitOpen is what every *OpenError wraps.
var ErrCircuitOpen = errors.New("circuit breaker open")

// OpenError is returned, without contacting the upstream, while the breaker
// of Host is open, or half-open with its probes already in flight. The proxy
// answers 503 with a Retry-After of RetryAfter (rounded up to whole seconds).
type OpenError struct {
	Host       string
	State      State
	RetryAfter time.Duration
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("circuit breaker %s for upstream %s after repeated failures: retry after %s",
		e.State, e.Host, e.RetryAfter.Round(time.Second))
}

// Unwrap returns ErrCircuitOpen.
func (e *OpenError) Unwrap() error { return ErrCircuitOpen }

// RetryAfterSeconds is RetryAfter for a Retry-After header: whole seconds,
// rounded up, at least 1.
func (e *OpenError) RetryAfterSeconds() int {
	s := int((e.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

// maxIdleBreakers bounds the breaker map: in host mode every S3 bucket is a
// host of its own. Beyond it, closed breakers without recent failures are
// dropped, which loses nothing.
const maxIdleBreakers = 4096

// Breakers holds one circuit breaker per upstream host, made on first use.
// Safe for concurrent use.
type Breakers struct {
	failures int
	open     time.Duration
	probes   int
	onChange func(StateChange)

	mu    sync.Mutex
	hosts map[string]*hostBreaker
}

type hostBreaker struct {
	cb *gobreaker.TwoStepCircuitBreaker
	// openedAt is when the breaker last opened (Unix nanoseconds), to compute
	// Retry-After. Atomic because gobreaker calls OnStateChange with its own
	// lock held: taking Breakers.mu there would invert the lock order.
	openedAt atomic.Int64
}

// NewBreakers returns breakers that open after cfg.BreakerFailures
// consecutive failures, stay open cfg.BreakerOpen, and close after
// cfg.BreakerProbes successful probes. It returns nil when
// cfg.BreakerFailures is 0: a nil *Breakers lets every request through.
// onChange, when not nil, is called on every state change; it runs with the
// host breaker's lock held, so it must be quick and must not call back into
// Breakers. Lock order: Breakers.mu, then a host breaker's lock.
func NewBreakers(cfg Config, onChange func(StateChange)) *Breakers {
	if cfg.BreakerFailures <= 0 {
		return nil
	}
	return &Breakers{
		failures: cfg.BreakerFailures,
		open:     cfg.BreakerOpen,
		probes:   max(cfg.BreakerProbes, 1),
		onChange: onChange,
		hosts:    make(map[string]*hostBreaker),
	}
}

func (b *Breakers) get(host string) *hostBreaker {
	b.mu.Lock()
	defer b.mu.Unlock()
	if hb, ok := b.hosts[host]; ok {
		return hb
	}
	if len(b.hosts) >= maxIdleBreakers {
		for h, hb := range b.hosts {
			if hb.cb.State() == gobreaker.StateClosed && hb.cb.Counts().ConsecutiveFailures == 0 {
				delete(b.hosts, h)
			}
		}
	}
	hb := &hostBreaker{}
	hb.cb = gobreaker.NewTwoStepCircuitBreaker(gobreaker.Settings{
		Name:        host,
		MaxRequests: uint32(b.probes),
		Timeout:     b.open,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= uint32(b.failures)
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				hb.openedAt.Store(time.Now().UnixNano())
			}
			if b.onChange != nil {
				b.onChange(StateChange{Host: name, From: stateOf(from), To: stateOf(to)})
			}
		},
	})
	b.hosts[host] = hb
	return hb
}

// Allow asks host's breaker whether a request may go. When it may, done must
// be called exactly once with whether the attempt failed (Outcome.Failed, or
// a transport error). When it may not, err is an *OpenError.
func (b *Breakers) Allow(host string) (done func(failed bool), err error) {
	if b == nil {
		return func(bool) {}, nil
	}
	hb := b.get(host)
	report, err := hb.cb.Allow()
	if err != nil {
		state := stateOf(hb.cb.State())
		wait := time.Until(time.Unix(0, hb.openedAt.Load()).Add(b.open))
		if state != Open || wait <= 0 {
			wait = time.Second // half-open with its probes in flight: soon
		}
		return nil, &OpenError{Host: host, State: state, RetryAfter: wait}
	}
	return func(failed bool) { report(!failed) }, nil
}

// State returns host's breaker state; Closed for a host never seen.
func (b *Breakers) State(host string) State {
	if b == nil {
		return Closed
	}
	b.mu.Lock()
	hb, ok := b.hosts[host]
	b.mu.Unlock()
	if !ok {
		return Closed
	}
	return stateOf(hb.cb.State())
}

// States returns the state of every breaker not closed, by host: what the
// breaker-state metric reports (a host missing from it is closed).
func (b *Breakers) States() map[string]State {
	out := map[string]State{}
	if b == nil {
		return out
	}
	b.mu.Lock()
	hbs := make(map[string]*hostBreaker, len(b.hosts))
	for h, hb := range b.hosts {
		hbs[h] = hb
	}
	b.mu.Unlock()
	for h, hb := range hbs {
		if s := stateOf(hb.cb.State()); s != Closed {
			out[h] = s
		}
	}
	return out
}

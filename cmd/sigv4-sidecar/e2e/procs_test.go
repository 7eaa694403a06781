//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// children is every process the suite started, so that TestMain can stop them
// all whatever happened to the tests.
var children = &processes{}

type processes struct {
	mu    sync.Mutex
	procs map[int]*exec.Cmd
	// spawn runs exec.Cmd.Start on one OS thread that never exits: Pdeathsig
	// fires when the thread that forked the child dies, not the process
	// (prctl(2) PR_SET_PDEATHSIG), and Go may retire idle threads.
	spawn chan spawnRequest
	once  sync.Once
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// start starts cmd in its own process group, killed with the suite if the
// suite dies without cleaning up (a panicking test, a -timeout).
func (p *processes) start(cmd *exec.Cmd) error {
	p.once.Do(func() {
		p.procs = map[int]*exec.Cmd{}
		p.spawn = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread()
			for req := range p.spawn {
				req.done <- req.cmd.Start()
			}
		}()
	})
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	req := spawnRequest{cmd: cmd, done: make(chan error, 1)}
	p.spawn <- req
	if err := <-req.done; err != nil {
		return err
	}
	p.mu.Lock()
	p.procs[cmd.Process.Pid] = cmd
	p.mu.Unlock()
	return nil
}

// stop sends SIGTERM to cmd's process group, waits up to grace for it to
// exit, then kills the group. It returns the exit error, if any.
func (p *processes) stop(cmd *exec.Cmd, grace time.Duration) error {
	pid := cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		err = <-done
		if err == nil {
			err = fmt.Errorf("pid %d ignored SIGTERM for %s", pid, grace)
		}
	}
	// Whatever the leader left behind in its group goes too.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	p.mu.Lock()
	delete(p.procs, pid)
	p.mu.Unlock()
	return err
}

// stopAll stops every process still running.
func (p *processes) stopAll() {
	p.mu.Lock()
	var cmds []*exec.Cmd
	for _, c := range p.procs {
		cmds = append(cmds, c)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.stop(c, 5*time.Second)
		}()
	}
	wg.Wait()
}

// peakRSS is the process's peak resident set size (VmHWM) in bytes.
func peakRSS(pid int) (int64, error) {
	return procStatusBytes(pid, "VmHWM:")
}

func procStatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status %s %q: %w", pid, field, rest, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// cpuTime is the CPU time (user+system) the process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces: fields count
	// from after the last ')'. utime and stime are fields 14 and 15 (proc(5)).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime %q %q", pid, f[11], f[12])
	}
	// USER_HZ is 100 on every Linux ABI Go supports.
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// exited reports whether the child pid has exited (a zombie not yet reaped,
// or gone): its state in /proc/<pid>/stat is Z, or there is no such file.
func exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	return len(f) > 0 && f[0] == "Z"
}

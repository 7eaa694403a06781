//go:build e2e

package e2e

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

var (
	flagSidecarBin       = flag.String("sidecar-bin", "", "test this sigv4-sidecar binary instead of building ./cmd/sigv4-sidecar")
	flagProxyBench       = flag.Bool("proxy-bench", false, "run the proxy load benchmark instead of the tests (make bench)")
	flagBenchOut         = flag.String("bench-out", "", "with -proxy-bench: also write the Markdown report to this file")
	flagBenchTime        = flag.Duration("bench-time", 5*time.Second, "with -proxy-bench: duration of each load run")
	flagBenchSidecarArgs = flag.String("bench-sidecar-args", "", "with -proxy-bench: extra arguments for every benchmark proxy, space-separated (e.g. --body-memory=256KiB); the proxy must still log its \"listening\" line")
	flagBenchReps        = flag.Int("bench-reps", 3, "with -proxy-bench: runs per load step and target; figures are medians")
	flagBenchSideReps    = flag.Int("bench-side-reps", 5, "with -proxy-bench: side-by-side runs per paced step and target, on which the targets are judged; figures are medians")
	flagInstallOnly      = flag.Bool("install-only", false, "install the servers and clients the suite uses when missing, and run nothing (make test does this in the background)")
)

// The servers every test shares, started once by TestMain.
var servers []*server

// front is the TLS front of the servers, for host mode.
var front *tlsFront

func TestMain(m *testing.M) {
	// The benchmark's helper processes are this binary in another role.
	switch {
	case os.Getenv(upstreamModeEnv) != "":
		os.Exit(runUpstream())
	case os.Getenv(pacerEnv) != "":
		os.Exit(runPacer())
	case os.Getenv(bareProxyEnv) != "":
		os.Exit(runBareProxy())
	}
	flag.Parse()
	if *flagInstallOnly {
		if err := installAll(); err != nil {
			log.Printf("e2e: %v", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(runMain(m))
}

// installAll installs every server and client the suite uses, as the
// tests would, and waits for them.
func installAll() error {
	startClientInstalls()
	_, versityErr := installTool("versitygw", versityModule, versityHowLong)
	_, minioErr := installTool("minio", minioModule, minioHowLong)
	<-installs.done
	return errors.Join(versityErr, minioErr, installs.aptErr, installs.npmErr)
}

// runMain sets up, runs and tears down; split from TestMain so its defers
// run before os.Exit.
func runMain(m *testing.M) int {
	defer children.stopAll()
	// An interrupted run (Ctrl-C, CI cancel) stops the servers too; a panic
	// or -timeout kills the process and Pdeathsig takes them down.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		log.Printf("e2e: %v: stopping every process the suite started", s)
		children.stopAll()
		os.Exit(2)
	}()

	removeStaleWorkDirs()
	work, err := os.MkdirTemp("", workDirPrefix)
	if err != nil {
		log.Print(err)
		return 1
	}
	defer os.RemoveAll(work)
	if err := os.WriteFile(filepath.Join(work, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		log.Print(err)
		return 1
	}

	if *flagSidecarBin != "" {
		sidecarBin = *flagSidecarBin
	} else if sidecarBin, err = buildSidecar(work); err != nil {
		log.Printf("e2e: %v", err)
		return 1
	}

	if *flagProxyBench {
		if err := runProxyBench(work); err != nil {
			log.Printf("e2e: proxy benchmark: %v", err)
			return 1
		}
		return 0
	}

	// The real clients install (apt-get, npm) while the servers build.
	startClientInstalls()
	if err := startServers(work); err != nil {
		log.Printf("e2e: %v", err)
		return 1
	}
	defer front.close()
	return m.Run()
}

// How long the servers take to install cold, for the line announcing it.
const (
	versityHowLong = "about a minute"
	minioHowLong   = "about 4 minutes"
)

func startServers(work string) error {
	versityBin, err := installTool("versitygw", versityModule, versityHowLong)
	if err != nil {
		return err
	}
	minioBin, err := installTool("minio", minioModule, minioHowLong)
	if err != nil {
		return err
	}
	log.Print("e2e: starting MinIO and versitygw and waiting until MinIO's STS answers (seconds)")
	if front, err = newTLSFront(work); err != nil {
		return err
	}
	for _, d := range []string{"minio-data", "versity-data"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o755); err != nil {
			return err
		}
	}
	mi, err := startMinIO(minioBin, filepath.Join(work, "minio-data"), front)
	if err != nil {
		return err
	}
	vg, err := startVersity(versityBin, filepath.Join(work, "versity-data"), front)
	if err != nil {
		return err
	}
	servers = []*server{mi, vg}
	for _, s := range servers {
		log.Printf("e2e: %s on %s (TLS front %s)", s.name, s.endpoint, s.tlsAddr)
	}
	return nil
}

func serverNamed(name string) *server {
	for _, s := range servers {
		if s.name == name {
			return s
		}
	}
	panic(fmt.Sprintf("no server %q", name))
}

// A run's work directory (servers' data, spooled bodies) is removed when the
// run ends; one whose run died (a panic, a -timeout) is removed by the next.
const (
	workDirPrefix = "sigv4-sidecar-e2e-"
	ownerFile     = "owner.pid"
)

func removeStaleWorkDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), workDirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours to judge, or still being set up
		}
		if pid, err := strconv.Atoi(string(b)); err == nil && exited(pid) {
			log.Printf("e2e: removing %s, left by a run that died", dir)
			os.RemoveAll(dir)
		}
	}
}

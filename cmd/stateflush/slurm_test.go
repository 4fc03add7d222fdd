package main

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// slurmSeeds is the size of the sweep the Slurm test submits: four tasks of the default scenario.
const slurmSeeds = 40

// slurmDeadline bounds the wait for the array and its merge job (the target: the whole test in
// under 3 minutes in CI).
const slurmDeadline = 150 * time.Second

// requireSlurm skips the test where a single-node Slurm cluster cannot be started (the Debian
// packages slurm-wlm and munge, and root to run slurmd), unless STATEFLUSH_REQUIRE_SLURM=1 (CI),
// which makes that a failure.
func requireSlurm(t *testing.T) {
	t.Helper()
	var missing []string
	for _, tool := range []string{"munged", "slurmctld", "slurmd", "sbatch", "sinfo", "scancel"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	reason := ""
	switch {
	case len(missing) > 0:
		reason = fmt.Sprintf("%s not found (apt-get install slurm-wlm munge)", strings.Join(missing, ", "))
	case os.Geteuid() != 0:
		reason = "not root: slurmd must run as root to start jobs"
	case testing.Short():
		reason = "starts a Slurm cluster (-short)"
	default:
		return
	}
	if os.Getenv("STATEFLUSH_REQUIRE_SLURM") == "1" {
		t.Fatalf("STATEFLUSH_REQUIRE_SLURM=1 but %s", reason)
	}
	t.Skipf("skipping the Slurm test: %s; STATEFLUSH_REQUIRE_SLURM=1 makes this a failure", reason)
}

// freePort is a TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// daemon starts a daemon in the foreground and stops it (SIGTERM, then SIGKILL) at the end of the
// test.
func daemon(t *testing.T, env []string, logPath string, name string, args ...string) {
	t.Helper()
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		log.Close()
	})
}

// waitFor polls until ok or the deadline, failing with what logs say.
func waitFor(t *testing.T, what string, deadline time.Time, logs []string, ok func() bool) {
	t.Helper()
	for !ok() {
		if time.Now().After(deadline) {
			var text strings.Builder
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				fmt.Fprintf(&text, "--- %s\n%s\n", l, b)
			}
			t.Fatalf("timed out waiting for %s\n%s", what, text.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestSlurmArraySweepMergesToTheLocalSweep starts a single-node Slurm cluster (munged, slurmctld and
// slurmd from Debian's packages, with a few lines of slurm.conf for this host), submits
// deploy/slurm/sweep.sbatch as a four-task array of the default scenario, waits for the merge job
// the first task submits, and requires the merged result to equal a local sweep of the same seeds,
// line for line.
func TestSlurmArraySweepMergesToTheLocalSweep(t *testing.T) {
	requireSlurm(t)
	start := time.Now()
	dir := t.TempDir()
	// munged refuses a key or socket directory others can write; the test's directories are root's.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := buildCommand(t)
	for _, d := range []string{"munge", "state", "spool", "log", "results"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "munge"), 0o700); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 1024)
	rand.Read(key)
	keyPath := filepath.Join(dir, "munge", "munge.key")
	if err := os.WriteFile(keyPath, key, 0o400); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "munge", "socket")
	logs := []string{filepath.Join(dir, "log", "munged.log"), filepath.Join(dir, "log", "slurmctld.log"), filepath.Join(dir, "log", "slurmd.log")}
	daemon(t, os.Environ(), logs[0], "munged", "--foreground", "--force", "--socket="+socket, "--key-file="+keyPath,
		"--pid-file="+filepath.Join(dir, "munge", "pid"), "--seed-file="+filepath.Join(dir, "munge", "seed"), "--log-file="+filepath.Join(dir, "log", "munged.file"))
	waitFor(t, "munged's socket", time.Now().Add(20*time.Second), logs, func() bool {
		_, err := os.Stat(socket)
		return err == nil
	})

	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ = strings.Cut(host, ".")
	conf := filepath.Join(dir, "slurm.conf")
	text := fmt.Sprintf(`ClusterName=stateflush-test
SlurmctldHost=%[1]s(127.0.0.1)
SlurmctldPort=%[2]d
SlurmdPort=%[3]d
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=%[4]s
CryptoType=crypto/munge
StateSaveLocation=%[5]s/state
SlurmdSpoolDir=%[5]s/spool
SlurmctldPidFile=%[5]s/slurmctld.pid
SlurmdPidFile=%[5]s/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
NodeName=%[1]s NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
`, host, freePort(t), freePort(t), socket, dir)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "SLURM_CONF="+conf)
	daemon(t, env, logs[1], "slurmctld", "-D", "-c", "-L", logs[1]+".file")
	daemon(t, env, logs[2], "slurmd", "-D", "-N", host, "-L", logs[2]+".file")
	logs = append(logs, logs[1]+".file", logs[2]+".file")
	slurm := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Env, cmd.Dir = env, dir
		b, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(b)), err
	}
	waitFor(t, "the node to be idle", time.Now().Add(60*time.Second), logs, func() bool {
		out, err := slurm("sinfo", "-h", "-o", "%T")
		return err == nil && out == "idle"
	})
	t.Cleanup(func() { slurm("scancel", "--full", "--user=root") })
	clusterUp := time.Since(start)

	results := filepath.Join(dir, "results")
	script, err := filepath.Abs(filepath.Join(deployDir, "slurm", "sweep.sbatch"))
	if err != nil {
		t.Fatal(err)
	}
	submit := exec.Command("sbatch", "--parsable", "--cpus-per-task=1", script)
	submit.Dir = dir
	submit.Env = append(env, "STATEFLUSH="+bin, "SWEEP_DIR="+results, "SWEEP_SEEDS="+strconv.Itoa(slurmSeeds))
	out, err := submit.CombinedOutput()
	if err != nil {
		t.Fatalf("sbatch: %v\n%s", err, out)
	}
	jobID := strings.TrimSpace(string(out))
	t.Logf("submitted array job %s (cluster up after %v)", jobID, clusterUp.Round(time.Millisecond))

	// The local sweep of the same seeds runs meanwhile.
	local := filepath.Join(dir, "local.jsonl")
	localRun := exec.Command(bin, "sweep", "--seeds", strconv.Itoa(slurmSeeds), "--workers", "1", "--quiet", "--out", local)
	localOut, localErr := localRun.CombinedOutput()
	localCode := localRun.ProcessState.ExitCode()
	if localCode != exitPass && localCode != exitViolation && localCode != exitUnknown {
		t.Fatalf("local sweep: %v\n%s", localErr, localOut)
	}

	for i := range 4 {
		logs = append(logs, filepath.Join(dir, fmt.Sprintf("stateflush-sweep-%s_%d.out", jobID, i)))
	}
	logs = append(logs, filepath.Join(results, "merge.out"))
	exitFile := filepath.Join(results, "merge.exit")
	waitFor(t, "the merge job", start.Add(slurmDeadline), logs, func() bool {
		b, err := os.ReadFile(exitFile)
		return err == nil && strings.HasSuffix(string(b), "\n")
	})
	code := strings.TrimSpace(readFile(t, exitFile))
	if code != strconv.Itoa(localCode) {
		t.Fatalf("the merge job exited %s, the local sweep %d; merge.out:\n%s", code, localCode, readFile(t, filepath.Join(results, "merge.out")))
	}
	for i := range 4 {
		if _, err := os.Stat(filepath.Join(results, fmt.Sprintf("shard-%d.jsonl", i))); err != nil {
			t.Errorf("task %d left no shard: %v", i, err)
		}
	}
	got, want := readFile(t, filepath.Join(results, "sweep.jsonl")), readFile(t, local)
	if got != want {
		t.Fatalf("the Slurm array's merged result differs from the local sweep:\n%s\n---\n%s", got, want)
	}
	if n := strings.Count(got, "\n"); n != slurmSeeds {
		t.Fatalf("the merged result has %d lines, want %d", n, slurmSeeds)
	}
	t.Logf("%d seeds on a four-task Slurm array, merged, equal to the local sweep; %v in all", slurmSeeds, time.Since(start).Round(time.Millisecond))
}

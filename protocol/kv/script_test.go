package kv

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stateflush/stateflush/protocol"
)

var updateScripts = flag.Bool("update", false, "rewrite the expected output of testdata/scripts/*.txt")

// TestScripts runs the hand-written schedules in testdata/scripts. Each file is a sequence of
// blocks:
//
//	# comments
//	command args...
//	----
//	expected output (the messages sent, events emitted and replies of that step)
//
// separated by blank lines. `go test ./protocol/kv -run TestScripts -update` rewrites the expected
// output; review the diff before committing it.
//
// Commands (node names s0.., c0..; timer kinds distribute, apply, image-chunk, chunk-apply,
// heartbeat):
//
//	config servers=N buckets=N redundancy=N chunk=N source=prefer-primary|prefer-non-primary
//	       strategy=state-flush|blocking|naive mutants=a,b   (must come first)
//	request CLIENT SERVER OP KEY [VALUE]    a client request on the client's channel
//	retry CLIENT SERVER                      the client's last request again (same event id)
//	deliver FROM TO                          deliver the first message on that channel
//	fire NODE KIND                           fire the node's earliest timer of that kind
//	hold FROM TO | release FROM TO | hold-timer NODE KIND | release-all
//	isolate NODE                             hold everything to and from NODE, heartbeats included
//	mute NODE                                hold everything from NODE, heartbeats included
//	                                         (hold never holds heartbeats)
//	stabilize                                deliver and fire until nothing can happen
//	until NODE EVENT                         run until NODE emits EVENT
//	advance DURATION                         let time pass (heartbeats, failure detection)
//	crash NODE | restart NODE
//	rebalance BUCKET TARGET
//	state                                    every server's state
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/scripts/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) { runScript(t, file) })
	}
}

type scriptBlock struct {
	comments []string
	command  string
	expected string
	line     int
}

func parseScript(t *testing.T, file string) []scriptBlock {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []scriptBlock
	var cur scriptBlock
	inOutput := false
	var out []string
	flush := func() {
		if cur.command != "" {
			cur.expected = strings.Join(out, "\n")
			blocks = append(blocks, cur)
		}
		cur, out, inOutput = scriptBlock{}, nil, false
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case inOutput && line == "":
			flush()
		case inOutput:
			out = append(out, line)
		case line == "----":
			if cur.command == "" {
				t.Fatalf("%s:%d: output without a command", file, n)
			}
			inOutput = true
		case strings.HasPrefix(line, "#"):
			cur.comments = append(cur.comments, line)
		case line == "":
		default:
			if cur.command != "" {
				t.Fatalf("%s:%d: command %q has no ---- line", file, n, cur.command)
			}
			cur.command, cur.line = line, n
		}
	}
	flush()
	return blocks
}

func runScript(t *testing.T, file string) {
	blocks := parseScript(t, file)
	var h *harness
	var rewritten strings.Builder
	for i, b := range blocks {
		fields := strings.Fields(b.command)
		var got string
		if fields[0] == "config" {
			if h != nil {
				t.Fatalf("%s:%d: config must come first", file, b.line)
			}
			h = newHarness(t, scriptConfig(t, file, b.line, fields[1:]))
			got = "ok"
		} else {
			if h == nil {
				h = newHarness(t, harnessConfig())
			}
			got = runScriptCommand(t, h, file, b.line, fields)
		}
		if got == "" {
			got = "(nothing)"
		}
		for _, c := range b.comments {
			rewritten.WriteString(c + "\n")
		}
		fmt.Fprintf(&rewritten, "%s\n----\n%s\n", b.command, got)
		if i < len(blocks)-1 {
			rewritten.WriteString("\n")
		}
		if !*updateScripts && got != b.expected {
			t.Fatalf("%s:%d: %s\n--- got:\n%s\n--- want:\n%s", file, b.line, b.command, got, b.expected)
		}
	}
	if *updateScripts {
		if err := os.WriteFile(file, []byte(rewritten.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func scriptConfig(t *testing.T, file string, line int, args []string) Config {
	cfg := harnessConfig()
	for _, arg := range args {
		key, value, ok := strings.Cut(arg, "=")
		if !ok {
			t.Fatalf("%s:%d: config argument %q is not key=value", file, line, arg)
		}
		var err error
		n, _ := strconv.Atoi(value)
		switch key {
		case "servers":
			cfg.Servers = n
		case "buckets":
			cfg.Buckets = n
		case "redundancy":
			cfg.Redundancy = n
		case "chunk":
			cfg.ChunkEntries = n
		case "source":
			cfg.SourceChoice, err = ParseSourceChoice(value)
		case "strategy":
			cfg.Strategy, err = ParseStrategy(value)
		case "mutants":
			cfg.Mutants, err = ParseMutants(value)
		case "partition":
			cfg.Partition.Rule, err = ParsePartitionRule(value)
		default:
			err = fmt.Errorf("unknown config key %q", key)
		}
		if err != nil {
			t.Fatalf("%s:%d: %v", file, line, err)
		}
	}
	return cfg
}

var scriptTimerKinds = map[string]int32{
	"heartbeat": timerHeartbeat, "distribute": timerDistribute, "apply": timerApply,
	"image-chunk": timerImageChunk, "chunk-apply": timerChunkApply, "copy-warn": timerCopyWarn,
}

func runScriptCommand(t *testing.T, h *harness, file string, line int, f []string) string {
	need := func(n int) {
		if len(f) != n {
			t.Fatalf("%s:%d: %s takes %d arguments", file, line, f[0], n-1)
		}
	}
	kind := func(name string) int32 {
		k, ok := scriptTimerKinds[name]
		if !ok {
			t.Fatalf("%s:%d: unknown timer kind %q", file, line, name)
		}
		return k
	}
	switch f[0] {
	case "request":
		if len(f) < 5 || len(f) > 6 {
			t.Fatalf("%s:%d: request CLIENT SERVER OP KEY [VALUE]", file, line)
		}
		value := ""
		if len(f) == 6 {
			value = f[5]
		}
		h.request(f[1], f[2], f[3], f[4], value)
		return h.takeLog()
	case "retry":
		need(3)
		h.retry(f[1], f[2])
		return h.takeLog()
	case "deliver":
		need(3)
		return h.deliver(f[1], f[2])
	case "fire":
		need(3)
		return h.fire(f[1], kind(f[2]))
	case "hold":
		need(3)
		h.hold(f[1], f[2])
		return "ok"
	case "release":
		need(3)
		h.release(f[1], f[2])
		return "ok"
	case "hold-timer":
		need(3)
		h.holdTimer(f[1], kind(f[2]))
		return "ok"
	case "isolate":
		need(2)
		h.isolate(f[1])
		return "ok"
	case "mute":
		need(2)
		h.mute(f[1])
		return "ok"
	case "release-all":
		need(1)
		h.releaseAll()
		return "ok"
	case "stabilize":
		need(1)
		return h.stabilize()
	case "until":
		need(3)
		return h.until(f[1], f[2])
	case "advance":
		need(2)
		d, err := parseScriptDuration(f[1])
		if err != nil {
			t.Fatalf("%s:%d: %v", file, line, err)
		}
		return h.advance(d)
	case "crash":
		need(2)
		return h.crash(f[1])
	case "restart":
		need(2)
		return h.restart(f[1])
	case "rebalance":
		need(3)
		b, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("%s:%d: bucket %q: %v", file, line, f[1], err)
		}
		return h.rebalance(b, f[2])
	case "state":
		need(1)
		return h.describe()
	}
	t.Fatalf("%s:%d: unknown command %q", file, line, f[0])
	return ""
}

func parseScriptDuration(s string) (protocol.Duration, error) {
	units := []struct {
		suffix string
		unit   protocol.Duration
	}{{"ms", protocol.Millisecond}, {"us", protocol.Microsecond}, {"s", protocol.Second}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return 0, fmt.Errorf("duration %q: %w", s, err)
			}
			return protocol.Duration(n) * u.unit, nil
		}
	}
	return 0, fmt.Errorf("duration %q: want a number with ms, us or s", s)
}

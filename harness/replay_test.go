package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// asRunFormat1 rewrites a trace file's header as a build from before Scenario.Workload wrote it:
// format stateflush-run/1, the workload inside the scenario's kv. keepWorkload false drops it
// instead, as a damaged file would.
func asRunFormat1(t *testing.T, path string, keepWorkload bool) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, rest, _ := bytes.Cut(raw, []byte("\n"))
	var header map[string]json.RawMessage
	var desc, scn, cluster map[string]json.RawMessage
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(json.Unmarshal(first, &header))
	must(json.Unmarshal(header["description"], &desc))
	must(json.Unmarshal(desc["scenario"], &scn))
	must(json.Unmarshal(scn["kv"], &cluster))
	if keepWorkload {
		cluster["Workload"] = scn["workload"]
	}
	delete(scn, "workload")
	cluster1, e := json.Marshal(cluster)
	must(e)
	scn["kv"] = cluster1
	scn1, e := json.Marshal(scn)
	must(e)
	desc["scenario"] = scn1
	desc["format"] = json.RawMessage(`"stateflush-run/1"`)
	desc1, e := json.Marshal(desc)
	must(e)
	header["description"] = desc1
	first1, e := json.Marshal(header)
	must(e)
	out := filepath.Join(t.TempDir(), "v1.jsonl")
	must(os.WriteFile(out, append(append(first1, '\n'), rest...), 0o644))
	return out
}

// Traces recorded in run format 1 (the corpus in traces/ holds many) still read and replay: the
// reader moves their workload from the scenario's kv to the scenario, and the rerun reproduces the
// recorded hash. A format-1 header without a workload is refused, naming what is missing.
func TestRunFormat1TracesReadAndReplay(t *testing.T) {
	scn := mustScenario(t, "small")
	o, err := Run(scn, 3, Options{FullTrace: true})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "run.jsonl")
	if err := o.WriteTrace(path); err != nil {
		t.Fatal(err)
	}
	old := asRunFormat1(t, path, true)
	spec, _, err := ReadRunTrace(old)
	if err != nil {
		t.Fatalf("reading a format-1 trace: %v", err)
	}
	if spec.Format != RunFormat || !reflect.DeepEqual(spec.Scenario.Workload, scn.Workload) {
		t.Fatalf("format-1 trace read as format %q with workload %+v, want %q and %+v", spec.Format, spec.Scenario.Workload, RunFormat, scn.Workload)
	}
	replayed, err := Replay(old, Options{})
	if err != nil {
		t.Fatalf("replaying a format-1 trace: %v", err)
	}
	if replayed.Result.Hash != o.Result.Hash {
		t.Fatalf("format-1 replay hash %016x, the run %016x", replayed.Result.Hash, o.Result.Hash)
	}

	_, _, err = ReadRunTrace(asRunFormat1(t, path, false))
	if !errors.Is(err, ErrNotARunTrace) || !bytes.Contains([]byte(err.Error()), []byte("no Workload")) {
		t.Fatalf("format-1 trace without a workload: %v, want ErrNotARunTrace naming the missing Workload", err)
	}
}

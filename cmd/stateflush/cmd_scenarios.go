package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"

	"github.com/stateflush/stateflush/harness"
)

var scenariosHelpText = help{
	usage: "stateflush scenarios [flags] [NAME...]",
	about: `Lists the built-in scenarios (the default first) with every parameter: the store's configuration,
link latency, nemeses, swarm, phases. Durations are virtual microseconds. With --json the output is
a JSON array of the scenarios exactly as trace headers record them. With names, only those.`,
	examples: `  stateflush scenarios
  stateflush scenarios small steady-monkey
  stateflush scenarios --json | jq '.[].name'
`,
}

// runScenarios is `stateflush scenarios`.
func runScenarios(s *streams, args []string) (int, error) {
	fs := newFlagSet("stateflush scenarios")
	asJSON := fs.Bool("json", false, "print a JSON array of the scenarios")
	names, err := parseFlags(s, fs, scenariosHelpText, args)
	if err != nil {
		return 0, err
	}
	scenarios := harness.Scenarios()
	if len(names) > 0 {
		scenarios = nil
		for _, name := range names {
			scn, err := harness.LookupScenario(name)
			if err != nil {
				return 0, asBadInput(err)
			}
			scenarios = append(scenarios, scn)
		}
	}
	if *asJSON {
		b, err := json.MarshalIndent(scenarios, "", "  ")
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(s.stdout, "%s\n", b)
		return exitPass, nil
	}
	for i, scn := range scenarios {
		if i > 0 {
			fmt.Fprintln(s.stdout)
		}
		if err := printScenario(s.stdout, scn); err != nil {
			return 0, err
		}
	}
	fmt.Fprintf(s.stdout, "\nrun, sweep, mutants and the default job change a scenario with --strategy --mutant --servers\n--clients --buckets --redundancy --source --ops-per-client --keys --swarm --safety-ms\n")
	return exitPass, nil
}

// printScenario writes a scenario's name and description, then every parameter as a dotted path
// and value. The parameters come from the scenario's JSON, so a parameter added to harness shows up
// here without a change; enumerations are shown by name.
func printScenario(w io.Writer, scn harness.Scenario) error {
	def := ""
	if scn.Name == harness.DefaultScenario {
		def = " (default)"
	}
	fmt.Fprintf(w, "%s%s: %s\n", scn.Name, def, scn.Description)
	b, err := json.Marshal(scn)
	if err != nil {
		return err
	}
	var tree map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // numbers as written (1500000, not 1.5e+06)
	if err := dec.Decode(&tree); err != nil {
		return err
	}
	params := map[string]string{}
	flatten("", tree, params)
	delete(params, "name")
	delete(params, "description")
	mutants := scn.KV.Mutants.String()
	if mutants == "" {
		mutants = "none"
	}
	params["kv.Strategy"] = scn.KV.Strategy.String()
	params["kv.Mutants"] = mutants
	if scn.KV.Locks.Enabled() {
		lockMutants := scn.KV.Locks.Mutants.String()
		if lockMutants == "" {
			lockMutants = "none"
		}
		params["kv.Locks.mutants"] = lockMutants
	}
	params["kv.SourceChoice"] = scn.KV.SourceChoice.String()
	params["latency.Kind"] = scn.Latency.Kind.String()
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, key := range slices.Sorted(maps.Keys(params)) {
		fmt.Fprintf(tw, "  %s\t%s\n", key, params[key])
	}
	return tw.Flush()
}

// flatten turns decoded JSON into dotted paths and printed values.
func flatten(prefix string, v any, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			path := k
			if prefix != "" {
				path = prefix + "." + k
			}
			flatten(path, child, out)
		}
	case []any:
		if len(v) == 0 {
			out[prefix] = "[]"
		}
		for i, child := range v {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), child, out)
		}
	case nil:
		out[prefix] = "none"
	default:
		out[prefix] = fmt.Sprint(v)
	}
}

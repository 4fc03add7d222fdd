package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The batch-system recipes are checked by running their stateflush command lines: each line is
// expanded the way the batch system and the shell expand it (the variables the recipe sets and the
// ones the system sets for each task), then run in-process, one task per shard, and the merged
// result must be the whole sweep's, line for line. recipeSeeds replaces the recipe's seed count,
// which is sized for a cluster.
const recipeSeeds = "8"

var deployDir = filepath.Join("..", "..", "deploy")

// shellWords expands and splits one command line of a recipe the way sh does for the simple lines
// the recipes use: words split on blanks outside quotes, 'single' and "double" quotes, $NAME,
// ${NAME}, ${NAME:-default}, ${NAME[@]} (an array: its words) and Kubernetes' $(NAME) expanded
// from env (an unset name is empty); the command ends at an unquoted ||, &&, ; or #.
func shellWords(t *testing.T, line string, env map[string]string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord, single, double := false, false, false
	// emptyArray marks a word that is only "${empty[@]}": no word at all, as in bash.
	emptyArray := false
	push := func() {
		if inWord && !(emptyArray && cur.Len() == 0) {
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord, emptyArray = false, false
	}
	nameRe := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case single:
			if c == '\'' {
				single = false
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' && !double:
			single, inWord = true, true
		case c == '"':
			double, inWord = !double, true
		case c == '$':
			var value string
			rest := line[i+1:]
			switch {
			case strings.HasPrefix(rest, "{"):
				end := strings.IndexByte(rest, '}')
				if end < 0 {
					t.Fatalf("unterminated ${ in %q", line)
				}
				expr := rest[1:end]
				name, def, hasDef := strings.Cut(expr, ":-")
				array := strings.HasSuffix(name, "[@]")
				name = strings.TrimSuffix(name, "[@]")
				value = env[name]
				emptyArray = emptyArray || array && value == ""
				if value == "" && hasDef {
					value = def
				}
				i += end + 1
			case strings.HasPrefix(rest, "("):
				end := strings.IndexByte(rest, ')')
				value = env[rest[1:end]]
				i += end + 1
			default:
				name := nameRe.FindString(rest)
				if name == "" {
					cur.WriteByte(c)
					inWord = true
					continue
				}
				value = env[name]
				i += len(name)
			}
			if double {
				cur.WriteString(value)
				continue
			}
			for j, f := range strings.Fields(value) {
				if j > 0 {
					push()
				}
				cur.WriteString(f)
				inWord = true
			}
		case double:
			cur.WriteByte(c)
		case c == ' ' || c == '\t':
			push()
		case c == ';' || c == '#' && !inWord || strings.HasPrefix(line[i:], "||") || strings.HasPrefix(line[i:], "&&"):
			push()
			return words
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if single || double {
		t.Fatalf("unterminated quote in %q", line)
	}
	push()
	return words
}

// recipeTask runs a recipe's script as its task would: assignments (NAME=value) set variables, the
// lines that run stateflush run in-process (paths under mount replaced by dir), the rest (tests,
// loops, comments) are skipped: the test makes their conditions true. It returns the exit codes of
// the stateflush commands, and fails unless there is at least one.
func recipeTask(t *testing.T, script string, env map[string]string, mount, dir string) []int {
	t.Helper()
	assign := regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=(\S*)$`)
	var codes []int
	for _, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		if m := assign.FindStringSubmatch(line); m != nil {
			if m[2] == "()" { // an empty bash array
				env[m[1]] = ""
				continue
			}
			words := shellWords(t, m[2], env)
			env[m[1]] = strings.Join(words, " ")
			continue
		}
		words := shellWords(t, line, env)
		if len(words) < 2 || filepath.Base(words[0]) != "stateflush" {
			continue
		}
		codes = append(codes, runRecipeCommand(t, words, env, mount, dir))
	}
	if len(codes) == 0 {
		t.Fatalf("no stateflush command in the script:\n%s", script)
	}
	return codes
}

// runRecipeCommand runs one stateflush command of a recipe in-process, with the recipe's
// environment, paths under mount (or relative .jsonl paths) moved into dir and globs expanded; a
// command the CLI refuses fails the test.
func runRecipeCommand(t *testing.T, words []string, env map[string]string, mount, dir string) int {
	t.Helper()
	var args []string
	for _, w := range words[1:] {
		if mount != "" && strings.HasPrefix(w, mount+"/") {
			w = filepath.Join(dir, strings.TrimPrefix(w, mount+"/"))
		} else if strings.HasSuffix(w, ".jsonl") && !filepath.IsAbs(w) {
			w = filepath.Join(dir, w)
		}
		if strings.ContainsAny(w, "*?[") {
			matches, err := filepath.Glob(w)
			if err != nil || len(matches) == 0 {
				t.Fatalf("%q matches no file (%v)", w, err)
			}
			args = append(args, matches...)
			continue
		}
		args = append(args, w)
	}
	var stdout, stderr bytes.Buffer
	s := &streams{stdout: &stdout, stderr: &stderr, getenv: func(name string) string { return env[name] }}
	code := runWith(s, args)
	if code == exitUsage || code == exitInternal {
		t.Fatalf("the recipe's command %q is refused (exit %d):\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
	return code
}

// kubernetesWords is a container's command and args as the kubelet gives them: $(NAME) replaced by
// the container's variable NAME, and no shell.
func kubernetesWords(t *testing.T, container any, env map[string]string) []string {
	t.Helper()
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	var words []string
	for _, key := range []string{"command", "args"} {
		for _, w := range dig(t, container, key).([]any) {
			words = append(words, ref.ReplaceAllStringFunc(fmt.Sprint(w), func(m string) string {
				name := ref.FindStringSubmatch(m)[1]
				v, ok := env[name]
				if !ok {
					t.Fatalf("%s names $(%s), which the container does not define", w, name)
				}
				return v
			}))
		}
	}
	return words
}

// localSweep is the sweep of recipeSeeds seeds of the default scenario on one machine.
func localSweep(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "local.jsonl")
	r := cli(t, "sweep", "--seeds", recipeSeeds, "--quiet", "--out", path)
	if r.code != exitPass && r.code != exitViolation && r.code != exitUnknown {
		t.Fatalf("local sweep: %s", r)
	}
	return readFile(t, path)
}

// yamlDocs parses every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []map[string]any
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if err.Error() == "EOF" {
				return docs
			}
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, doc)
	}
}

// dig follows keys (strings for maps, ints for lists) into parsed YAML, failing when one is absent.
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, k := range path {
		switch key := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("want a map holding %q, got %v", key, v)
			}
			if v, ok = m[key]; !ok {
				t.Fatalf("no %q in %v", key, m)
			}
		case int:
			l, ok := v.([]any)
			if !ok || key >= len(l) {
				t.Fatalf("want a list of more than %d, got %v", key, v)
			}
			v = l[key]
		}
	}
	return v
}

// containerEnv reads a container's env list: plain values, and the fieldRef paths of the others.
func containerEnv(t *testing.T, container any) (values, fieldRefs map[string]string) {
	t.Helper()
	values, fieldRefs = map[string]string{}, map[string]string{}
	for _, e := range dig(t, container, "env").([]any) {
		name := fmt.Sprint(dig(t, e, "name"))
		if v, ok := e.(map[string]any)["value"]; ok {
			values[name] = fmt.Sprint(v)
			continue
		}
		fieldRefs[name] = fmt.Sprint(dig(t, e, "valueFrom", "fieldRef", "fieldPath"))
	}
	return values, fieldRefs
}

// TestKubernetesIndexedJobMergesToTheLocalSweep checks deploy/k8s/sweep-job.yaml: it parses; the
// sweep is an Indexed Job whose pods get JOB_COMPLETION_INDEX and a shard count equal to its
// completions (what --shard auto reads); both Jobs mount the claim the file defines; and running
// each pod's command (the index set as Kubernetes sets it) and then the merge's gives the local
// sweep's lines.
func TestKubernetesIndexedJobMergesToTheLocalSweep(t *testing.T) {
	docs := yamlDocs(t, filepath.Join(deployDir, "k8s", "sweep-job.yaml"))
	byName := map[string]map[string]any{}
	for _, d := range docs {
		byName[fmt.Sprint(d["kind"])+"/"+fmt.Sprint(dig(t, d, "metadata", "name"))] = d
	}
	sweep, merge := byName["Job/stateflush-sweep"], byName["Job/stateflush-merge"]
	if sweep == nil || merge == nil {
		t.Fatalf("want Jobs stateflush-sweep and stateflush-merge, got %v", slices.Collect(mapsKeys(byName)))
	}
	if dig(t, sweep, "spec", "completionMode") != "Indexed" {
		t.Fatal("the sweep Job is not an Indexed Job")
	}
	completions := dig(t, sweep, "spec", "completions").(int)
	sweepPod, mergePod := dig(t, sweep, "spec", "template", "spec"), dig(t, merge, "spec", "template", "spec")
	for _, pod := range []any{sweepPod, mergePod} {
		claim := fmt.Sprint(dig(t, pod, "volumes", 0, "persistentVolumeClaim", "claimName"))
		if byName["PersistentVolumeClaim/"+claim] == nil {
			t.Errorf("a Job mounts claim %q, which the file does not define", claim)
		}
		if mode := dig(t, byName["PersistentVolumeClaim/"+claim], "spec", "accessModes", 0); mode != "ReadWriteMany" {
			t.Errorf("claim %q is %v: pods on several nodes share it", claim, mode)
		}
	}
	container := dig(t, sweepPod, "containers", 0)
	// Pods that end with a verdict are not retried: the rule names the container and the codes.
	rule := dig(t, sweep, "spec", "podFailurePolicy", "rules", 0)
	if dig(t, rule, "action") != "FailIndex" || dig(t, rule, "onExitCodes", "containerName") != dig(t, container, "name") ||
		fmt.Sprint(dig(t, rule, "onExitCodes", "values")) != fmt.Sprint([]int{exitViolation, exitUnknown}) {
		t.Errorf("the first pod failure rule does not mark an index that found a violation or an unknown as done: %v", rule)
	}
	values, refs := containerEnv(t, container)
	if refs[envK8sIndex] != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
		t.Errorf("%s comes from %q, not the completion index annotation", envK8sIndex, refs[envK8sIndex])
	}
	if values[envShardCount] != strconv.Itoa(completions) {
		t.Errorf("%s=%q but the Job has %d completions", envShardCount, values[envShardCount], completions)
	}
	mergeContainer := dig(t, mergePod, "containers", 0)
	mergeValues, _ := containerEnv(t, mergeContainer)
	if mergeValues["SWEEP_SHARDS"] != strconv.Itoa(completions) {
		t.Errorf("the merge waits for %q shards but the Job has %d completions", mergeValues["SWEEP_SHARDS"], completions)
	}
	mount := fmt.Sprint(dig(t, container, "volumeMounts", 0, "mountPath"))
	if m := fmt.Sprint(dig(t, mergeContainer, "volumeMounts", 0, "mountPath")); m != mount {
		t.Errorf("the sweep writes to %s, the merge reads %s", mount, m)
	}

	dir := t.TempDir()
	for i := range completions {
		env := map[string]string{}
		for k, v := range values {
			env[k] = v
		}
		env[envK8sIndex], env["SWEEP_SEEDS"] = strconv.Itoa(i), recipeSeeds
		words := kubernetesWords(t, container, env)
		if !slices.Contains(words, "auto") || words[0] != "stateflush" || words[1] != "sweep" {
			t.Fatalf("the sweep container runs %q, not stateflush sweep --shard auto", words)
		}
		runRecipeCommand(t, words, env, mount, dir)
	}
	recipeTask(t, fmt.Sprint(dig(t, mergeContainer, "args", 0)), mergeValues, mount, dir)
	if got, want := readFile(t, filepath.Join(dir, "sweep.jsonl")), localSweep(t); got != want {
		t.Fatalf("the Indexed Job's merged result differs from the local sweep:\n%s\n---\n%s", got, want)
	}
}

func mapsKeys(m map[string]map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestGitHubMatrixMergesToTheLocalSweep checks deploy/github/sweep.yml the same way: the matrix's
// shards are 0..n-1, the index and count --shard auto reads come from the matrix, each job's
// artifact is the file its sweep wrote, and the merge job's command on the downloaded artifacts
// gives the local sweep's lines.
func TestGitHubMatrixMergesToTheLocalSweep(t *testing.T) {
	docs := yamlDocs(t, filepath.Join(deployDir, "github", "sweep.yml"))
	if len(docs) != 1 {
		t.Fatalf("want one workflow, got %d documents", len(docs))
	}
	jobs := dig(t, docs[0], "jobs")
	sweep, merge := dig(t, jobs, "sweep"), dig(t, jobs, "merge")
	shards := dig(t, sweep, "strategy", "matrix", "shard").([]any)
	for i, s := range shards {
		if s != i {
			t.Fatalf("matrix.shard is %v: want 0, 1, ... in order", shards)
		}
	}
	if needs := dig(t, merge, "needs"); needs != "sweep" {
		t.Errorf("the merge job needs %v, not the sweep", needs)
	}
	jobEnv := dig(t, sweep, "env").(map[string]any)
	if jobEnv[envShardIndex] != "${{ matrix.shard }}" || jobEnv[envShardCount] != "${{ strategy.job-total }}" {
		t.Errorf("%s=%v and %s=%v: want the matrix's shard and size", envShardIndex, jobEnv[envShardIndex], envShardCount, jobEnv[envShardCount])
	}
	// expressions evaluates the workflow's ${{ }} expressions for matrix job i.
	expressions := func(text string, i int) string {
		return strings.NewReplacer(
			"${{ matrix.shard }}", strconv.Itoa(i),
			"${{ strategy.job-total }}", strconv.Itoa(len(shards)),
			"${{ inputs.seeds || '1000' }}", recipeSeeds,
			"${{ inputs.args }}", "",
		).Replace(text)
	}
	steps := func(job any, want string) (run string, uploads, downloads []map[string]any) {
		for _, s := range dig(t, job, "steps").([]any) {
			step := s.(map[string]any)
			if r, ok := step["run"].(string); ok && strings.Contains(r, want) {
				run = r
			}
			switch uses := fmt.Sprint(step["uses"]); {
			case strings.HasPrefix(uses, "actions/upload-artifact@"):
				uploads = append(uploads, step["with"].(map[string]any))
			case strings.HasPrefix(uses, "actions/download-artifact@"):
				downloads = append(downloads, step["with"].(map[string]any))
			}
		}
		if run == "" {
			t.Fatalf("no step runs %q", want)
		}
		return run, uploads, downloads
	}
	sweepRun, uploads, _ := steps(sweep, "stateflush sweep")
	mergeRun, _, downloads := steps(merge, "stateflush merge")
	if len(uploads) != 1 || len(downloads) != 1 {
		t.Fatalf("want one upload in the sweep job and one download in the merge job: %v, %v", uploads, downloads)
	}
	download := downloads[0]
	if download["merge-multiple"] != true {
		t.Error("the download does not put every shard in one directory (merge-multiple)")
	}
	downloaded := filepath.Join(t.TempDir(), fmt.Sprint(download["path"]))
	if err := os.MkdirAll(downloaded, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range shards {
		work := t.TempDir()
		env := map[string]string{}
		for k, v := range jobEnv {
			env[k] = expressions(fmt.Sprint(v), i)
		}
		recipeTask(t, expressions(sweepRun, i), env, "", work)
		name, path := expressions(fmt.Sprint(uploads[0]["name"]), i), expressions(fmt.Sprint(uploads[0]["path"]), i)
		if ok, _ := filepath.Match(fmt.Sprint(download["pattern"]), name); !ok {
			t.Fatalf("artifact %q does not match the download's pattern %v", name, download["pattern"])
		}
		b, err := os.ReadFile(filepath.Join(work, path))
		if err != nil {
			t.Fatalf("the artifact is not the file the sweep wrote: %v", err)
		}
		if err := os.WriteFile(filepath.Join(downloaded, filepath.Base(path)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mergeDir := filepath.Dir(downloaded)
	recipeTask(t, mergeRun, map[string]string{}, "", mergeDir)
	if got, want := readFile(t, filepath.Join(mergeDir, "sweep.jsonl")), localSweep(t); got != want {
		t.Fatalf("the matrix's merged result differs from the local sweep:\n%s\n---\n%s", got, want)
	}
}

// TestSlurmScriptMergesToTheLocalSweep runs deploy/slurm/sweep.sbatch's command lines as a four-task
// array would (the variables Slurm sets for each task), without Slurm: the test that runs it on a
// real cluster (TestSlurmArray...) skips where Slurm is not installed, this one does not.
func TestSlurmScriptMergesToTheLocalSweep(t *testing.T) {
	script := readFile(t, filepath.Join(deployDir, "slurm", "sweep.sbatch"))
	if !strings.Contains(script, "\n#SBATCH --array=0-3\n") {
		t.Fatal("the script's array is not --array=0-3, which the README and this test assume")
	}
	dir := t.TempDir()
	var merge string
	for i := range 4 {
		env := map[string]string{
			"STATEFLUSH": "stateflush", "SWEEP_DIR": dir, "SWEEP_SEEDS": recipeSeeds,
			envSlurmID: strconv.Itoa(i), envSlurmMin: "0", envSlurmMax: "3", envSlurmCount: "4", "SLURM_ARRAY_JOB_ID": "7",
		}
		var lines []string
		for _, line := range strings.Split(script, "\n") {
			// The first task submits the merge job: its command is the --wrap of that sbatch.
			if strings.Contains(line, "merge=") {
				merge = line
				continue
			}
			lines = append(lines, line)
		}
		recipeTask(t, strings.Join(lines, "\n"), env, "", dir)
	}
	// merge="$(printf '%q ' "$stateflush" merge --out "$dir/sweep.jsonl") $(printf '%q' "$dir")/shard-*.jsonl"
	m := regexp.MustCompile(`printf '%q ' (.*)\) \$\(printf '%q' "\$dir"\)(/\S+)"$`).FindStringSubmatch(strings.TrimSpace(merge))
	if m == nil {
		t.Fatalf("the merge command is not in the form this test reads: %q", merge)
	}
	recipeTask(t, m[1]+` "$dir"`+m[2], map[string]string{"stateflush": "stateflush", "dir": dir}, "", dir)
	if got, want := readFile(t, filepath.Join(dir, "sweep.jsonl")), localSweep(t); got != want {
		t.Fatalf("the Slurm script's merged result differs from the local sweep:\n%s\n---\n%s", got, want)
	}
}

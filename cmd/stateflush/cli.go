package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

// Exit codes (documented in doc.go and in the root --help).
const (
	exitPass      = 0
	exitViolation = 1
	exitUsage     = 2
	exitUnknown   = 3
	exitInternal  = 4
	// exitCrash is a command the Go runtime ended (a fatal error, or a panic on a goroutine that
	// nobody recovers); see supervise_unix.go.
	exitCrash = 5
	// exitInterrupted is a sweep stopped by SIGINT or SIGTERM, after it saved its results: 128 plus
	// SIGINT's number, the code shells give a command ended by Ctrl-C.
	exitInterrupted = 130
)

const exitCodesHelp = `EXIT CODES
  0  pass: every check passed (default job: the correct protocol passed every seed and the mutant was caught)
  1  violation: some check found a bug, or the protocol code panicked (verdict crash, with its stack in
     the report) (default job: the correct protocol failed a check)
  2  usage error or bad input: unknown subcommand, scenario or mutant, invalid number, conflicting flags,
     missing, malformed or truncated file, a trace of another format version, sweep shards that do not
     merge or leave seeds missing, an output another command is writing
  3  unknown: a check ran out of time and nothing failed (default job: also when the mutant escaped
     every seed of the budget)
  4  internal error: the run could not be carried out or reproduced, e.g. replay's rerun does not give
     the trace hash recorded in the file (the file was edited, was recorded by another build, or the
     simulation is not deterministic), or a panic in the command's own code
  5  crash: the Go runtime ended the command (a fatal error such as running out of memory, or a panic
     no code recovers); its message is on stderr. The runtime itself exits 2 then, which the command
     turns into 5 by running as a child of itself (on unix; elsewhere such a crash exits 2)
  130  interrupted: a sweep stopped by SIGINT or SIGTERM after saving its completed seeds; other
     commands end as the signal ends them
`

// streams are where a command writes: results on stdout, progress and errors on stderr; and what
// else it reads from its process, so that tests can give their own.
type streams struct {
	stdout, stderr io.Writer
	// ctx, when not nil, is the parent of the context a sweep stops on (tests cancel it).
	ctx context.Context
	// getenv, when not nil, replaces os.Getenv (--shard auto reads the environment).
	getenv func(string) string
	// afterLine, when not nil, is called after a sweep wrote its n-th new line (tests interrupt
	// there).
	afterLine func(n int)
}

func (s *streams) context() context.Context {
	if s.ctx != nil {
		return s.ctx
	}
	return context.Background()
}

func (s *streams) env(name string) string {
	if s.getenv != nil {
		return s.getenv(name)
	}
	return os.Getenv(name)
}

// command is one subcommand. run returns the exit code of a completed command, or an error (see
// exitError) for a command that could not complete.
type command struct {
	name    string
	summary string
	run     func(s *streams, args []string) (int, error)
}

// commands lists the subcommands in the order the root help shows them.
func commands() []command {
	return []command{
		{"run", "run one seed and print its full report", runOne},
		{"sweep", "run many seeds on every core, one JSON line per seed", runSweep},
		{"merge", "combine the JSON lines of sweep shards into one sweep", runMerge},
		{"replay", "rerun a recorded trace file, check its hash, write its report", runReplay},
		{"mutants", "the mutation score: how fast the checks catch each mutant", runMutants},
		{"check", "check a recorded history file (stateflush JSON, Jepsen EDN, porcupine's log) for linearizability", runCheck},
		{"convert", "convert a history file of another format to stateflush's JSON", runConvert},
		{"scenarios", "list the built-in scenarios and all their parameters", runScenarios},
		{"plot", "regenerate the notebook figures", runPlot},
		{"version", "print the module version and VCS revision of this build", runVersion},
		{"help", "show the help of a subcommand", runHelp},
	}
}

func lookupCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func commandNames() string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

// run is the whole command: it parses args, runs the subcommand (or the default job when args is
// empty or starts with a flag) and returns the exit code. Tests call it in-process.
func run(args []string, stdout, stderr io.Writer) (code int) {
	return runWith(&streams{stdout: stdout, stderr: stderr}, args)
}

// runWith is run with the streams (and test hooks) given.
func runWith(s *streams, args []string) (code int) {
	stderr := s.stderr
	name := "stateflush"
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(stderr, "%s: %s\n", name, oneLine(panicError(p).Error()))
			code = exitInternal
		}
	}()
	var err error
	switch {
	case len(args) == 0 || strings.HasPrefix(args[0], "-"):
		code, err = runDemo(s, args)
	default:
		cmd, ok := lookupCommand(args[0])
		if !ok {
			err = badInput("unknown subcommand %q (known: %s; run 'stateflush --help')", args[0], commandNames())
			break
		}
		name = "stateflush " + cmd.name
		code, err = cmd.run(s, args[1:])
	}
	if errors.Is(err, errHelpShown) {
		return exitPass
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", name, oneLine(err.Error()))
		return exitCodeOf(err)
	}
	return code
}

// panicError turns a recovered panic (a broken invariant somewhere below) into an internal error,
// so that the user gets one line and exit 4 rather than a stack trace. With STATEFLUSH_TRACEBACK
// set it panics again, for the stack trace.
func panicError(p any) error {
	if os.Getenv("STATEFLUSH_TRACEBACK") != "" {
		panic(p)
	}
	return fmt.Errorf("internal error: %v (set STATEFLUSH_TRACEBACK=1 for the stack trace)", p)
}

// exitError carries the exit code of an error. Errors without one are internal errors.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// badInput is a usage error or invalid input: exit 2.
func badInput(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// asBadInput marks err (from reading a file or validating parameters) as bad input.
func asBadInput(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: exitUsage, err: err}
}

// errHelpShown ends a command after its --help was printed: run exits 0 without a message.
var errHelpShown = errors.New("help shown")

func exitCodeOf(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return exitInternal
}

// oneLine keeps an error message on one line, as the user sees it on stderr.
func oneLine(msg string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
}

// help is what --help prints for a command besides its flags.
type help struct {
	usage    string // the usage line, e.g. "stateflush run [flags]"
	about    string // what the command does, a few lines
	examples string // EXAMPLES section, one example per line, indented
	extra    string // optional sections after the examples (EXIT CODES for the root)
}

// newFlagSet makes the FlagSet of one command. The standard library's flag package, one FlagSet per
// subcommand, is all a command of this size needs: a CLI framework would add a dependency and
// little else. name is what the user typed, e.g. "stateflush run". Parse errors and --help are
// handled by parseFlags, so the FlagSet itself never prints.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args, allowing flags after positional arguments (`replay FILE --out DIR`), and
// returns the positional arguments. --help prints the help to stdout and returns errHelpShown.
func parseFlags(s *streams, fs *flag.FlagSet, h help, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printHelp(s.stdout, fs, h)
				return nil, errHelpShown
			}
			// The flag package names flags with one dash; users type two.
			msg := strings.NewReplacer("flag -", "flag --", "defined: -", "defined: --", "for -", "for --").Replace(err.Error())
			return nil, badInput("%s (see '%s --help')", msg, fs.Name())
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// printHelp writes a command's usage line, description, flags (with -- prefixes, as users type
// them), examples and extra sections.
func printHelp(w io.Writer, fs *flag.FlagSet, h help) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", h.usage, strings.TrimRight(h.about, "\n"))
	// The command's own flags first, then the flags that change the scenario (shared by several
	// commands and long).
	var own, scenario []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if slices.Contains(scenarioFlagNames, f.Name) {
			scenario = append(scenario, f)
		} else {
			own = append(own, f)
		}
	})
	printFlags(w, "FLAGS", own, true)
	printFlags(w, "SCENARIO FLAGS (change the built-in scenario)", scenario, false)
	fmt.Fprintf(w, "\nEXAMPLES\n%s", h.examples)
	if h.extra != "" {
		fmt.Fprintf(w, "\n%s", h.extra)
	}
}

// printFlags lists flags with -- prefixes, as users type them.
func printFlags(w io.Writer, title string, flags []*flag.Flag, withHelp bool) {
	if len(flags) == 0 && !withHelp {
		return
	}
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, f := range flags {
		placeholder, usage := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if placeholder != "" {
			name += " " + placeholder
		}
		switch f.DefValue {
		case "", "0", "false", "0s":
		default:
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, usage)
	}
	if withHelp {
		fmt.Fprintf(tw, "  -h, --help\tshow this help\n")
	}
	tw.Flush()
}

var helpHelpText = help{
	usage:    "stateflush help [SUBCOMMAND]",
	about:    "Shows the help of a subcommand (the same as stateflush SUBCOMMAND --help), or without one the\nhelp of stateflush itself.",
	examples: "  stateflush help\n  stateflush help sweep\n",
}

// runHelp is `stateflush help [SUBCOMMAND]`.
func runHelp(s *streams, args []string) (int, error) {
	fs := newFlagSet("stateflush help")
	names, err := parseFlags(s, fs, helpHelpText, args)
	if err != nil {
		return 0, err
	}
	switch len(names) {
	case 0:
		return runDemo(s, []string{"--help"})
	case 1:
	default:
		return 0, badInput("want at most one subcommand, got %d arguments", len(names))
	}
	cmd, ok := lookupCommand(names[0])
	if !ok {
		return 0, badInput("unknown subcommand %q (known: %s)", names[0], commandNames())
	}
	return cmd.run(s, []string{"--help"})
}

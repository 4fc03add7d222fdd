package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/stateflush/stateflush/linearizability"
	"github.com/stateflush/stateflush/linearizability/formats"
)

var convertHelpText = help{
	usage: "stateflush convert [flags] FILE [OUT]",
	about: `Reads a history in any format check reads (--format, detected by default; see 'stateflush check
--help') and writes it as stateflush's history JSON (or, with --to edn, as a Jepsen EDN history) to
OUT, or to standard output without OUT. The input is read as strictly as check reads it; the output
reads back as the same operations (from EDN, times are the positions of the events).
Exit code: 0 converted, 2 unreadable or malformed input, or an output that cannot be written.`,
	examples: `  stateflush convert linearizability/formats/testdata/porcupine/etcd_000.log etcd_000.json
  stateflush convert linearizability/formats/testdata/jepsen/cas-register.edn > cas-register.json
  stateflush convert --format edn linearizability/formats/testdata/porcupine/c01-ok.txt c01-ok.json
  stateflush convert --to edn history.json history.edn
`,
}

// runConvert is `stateflush convert FILE [OUT]`.
func runConvert(s *streams, args []string) (int, error) {
	fs := newFlagSet("stateflush convert")
	input := addHistoryInputFlags(fs)
	to := fs.String("to", "json", "the output `format`: json (stateflush's) or edn (Jepsen's)")
	files, err := parseFlags(s, fs, convertHelpText, args)
	if err != nil {
		return 0, err
	}
	if len(files) < 1 || len(files) > 2 {
		return 0, badInput("want FILE and optionally OUT, got %d arguments (see 'stateflush convert --help')", len(files))
	}
	if *to != "json" && *to != "edn" {
		return 0, badInput("--to %s: want json or edn", *to)
	}
	history, _, _, err := input.read(files[0])
	if err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	if *to == "edn" {
		err = formats.WriteJepsenEDN(&buf, history)
	} else {
		err = linearizability.WriteHistory(&buf, history)
	}
	if err != nil {
		return 0, asBadInput(fmt.Errorf("%s: %w", files[0], err))
	}
	if len(files) == 1 {
		_, err = s.stdout.Write(buf.Bytes())
		return exitPass, err
	}
	if err := os.WriteFile(files[1], buf.Bytes(), 0o644); err != nil {
		return 0, asBadInput(err)
	}
	return exitPass, nil
}

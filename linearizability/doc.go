// Package linearizability turns what a simulator run recorded into verdicts a researcher can trust
// and reports a person can open. It reads traces (package sim/trace, with the event names of
// protocol/events.go) and client histories; it knows nothing of the simulator's internals.
//
// # From a trace to a verdict to a report
//
//	records := ...                                   // []trace.Record of one run, in Seq order
//	h, err := linearizability.HistoryFromTrace(records)
//	verdict, err := linearizability.CheckHistory(h, 10*time.Second)
//
//	violations, undecided, err := linearizability.CheckAtMostOnce(h) // undecided keys are not a pass
//	cuts, err := linearizability.CheckCuts(records, nil, nil) // nil: markers are "snapshot-marker"
//	for _, cut := range cuts {                                 // messages; every node's causality
//		violations = append(violations, cut.Violations...)
//	}
//	holdings := ...                                  // the store's final state, converted by the caller
//	v1, err := linearizability.CheckConvergence(holdings, records)
//	v2, err := linearizability.CheckAcknowledgedWrites(h, holdings, bucketOf, records)
//	v3, err := linearizability.CheckRedundancy(holdings, linearizability.RedundancyTarget{
//		BucketCount: 16, CopiesWanted: 2, LiveMembers: live}, records)
//
//	if verdict.Result != linearizability.Ok || len(undecided) > 0 || len(violations) > 0 {
//		err = linearizability.WriteReport(dir, linearizability.ReportInput{
//			Description: "...", ReplayCommand: "...", Records: records, History: h,
//			Verdicts: []linearizability.Verdict{verdict}, Violations: violations})
//	}
//
// Errors are for input that cannot be read (ErrMalformedTrace, ErrMalformedHistory,
// ErrInvalidParameter, ErrUnsupportedVersion, ErrSnapshotNotFound, each naming the record,
// operation or parameter); what the checks find is reported as a Verdict or as Violations.
//
// # Histories
//
// A History holds every client operation of a run (get, put, delete, append, snapshot) with its
// input, output, status (ok, fail, unknown) and virtual call and return times in µs.
// HistoryFromTrace pairs op-invoke and op-return events; an operation that never returned, or
// returned with status unknown, gets ReturnUS == InfiniteTimeUS. WriteHistory and ReadHistory (and
// their File variants) store a history as versioned JSON; ReadHistoryLimited reads it strictly as
// a stream, naming the line of any problem. Package linearizability/formats reads histories that
// other tools write (Jepsen's EDN, porcupine's Jepsen log) and detects the format of a file.
//
// # Linearizability
//
// CheckHistory uses porcupine's models. Histories without snapshots are checked with
// RegisterModel, one partition per key (a register that is absent or holds a string; append to an
// absent key creates it); histories with a successful snapshot are checked with StoreModel, one
// partition for the whole store (keep them small). Failed operations had no effect and are left
// out; reads and snapshots of unknown outcome are left out; writes of unknown outcome stay in with
// an infinite return time, so they may take effect at any point after their invocation, or never.
//
// Models are values (Model): CheckHistory uses ModelFor(h) unless WithModel names one. Built in:
// KVModel ("register", the store's register per key), StoreSnapshotModel ("store", the whole
// store with snapshots), CASRegisterModel ("cas-register": read, write, cas; a failed cas observed
// another value), KVEmptyDefaultModel ("kv-empty": absent keys read as "") and LockModel ("lock":
// named locks with fencing tokens; mutual exclusion, growing tokens, unlock by the holder). A model of one's own
// is porcupine's model plus its kinds; its Step receives each operation as a *Operation.
//
// The search is porcupine's algorithm (Wing and Gong's, with Lowe's memoization) in a resumable
// form (search.go). Each partition is searched twice over, in turn (partitionsearch.go): in
// porcupine's order (the earliest call tried first) and in return order (the earliest return
// first) with a model's lookahead (lookahead.go: for the register, a read still overlapping the
// search must remain reachable from the current value by the appends and overwrites still
// pending). Both are exact; the first to finish decides. Contended keys of 100-server runs, whose
// writes overlap by tens and whose reads pin their order only at the end, took call order past
// its budget and take the pair milliseconds. The partitions are scheduled: each gets a first
// slice of 1% of the budget, shortest first, and the undecided ones then share the rest of the budget round by round
// on GOMAXPROCS workers, each resuming where it paused. One hard key therefore cannot keep the
// easy ones from being decided, even on one CPU. StopAtFirstIllegal stops at the first illegal
// partition (as porcupine's CheckOperations does); by default every partition is decided, and the
// Verdict lists the illegal, ok and undecided keys. The memo caches share a byte limit
// (DefaultCacheLimit, WithCacheLimit): past it a search goes on without remembering new
// configurations, which keeps memory bounded and the answer exact, at the risk of revisiting
// configurations. A check that runs out of its wall-clock budget is Unknown, never Ok; Summary
// adds verdicts up and counts Unknowns on their own. Unknown is the only verdict that depends on
// the machine: Ok and Illegal are exact.
//
// On a 2-core machine CheckHistory decides a 10,000-operation history over 100 keys in about 10 ms
// and a 100,000-operation history over 1,000 keys in about 120 ms (go test -bench . ./linearizability/).
//
// # Consistent cuts
//
// CheckCut reads a Chandy–Lamport snapshot back from its snapshot-local, snapshot-channel and
// snapshot-marker events and checks it against the trace's sends and deliveries: the cut must be
// closed under happens-before, and each channel's recorded messages must be exactly those sent
// inside the cut and delivered outside it. Which messages are markers is a parameter: a predicate
// on the message type (the Name of send and deliver records); nil means the type "snapshot-marker"
// (DefaultIsMarker). VectorClocks gives every record's vector clock, for charts and for
// happens-before questions of one's own.
//
// # Invariants beside linearizability
//
// The caller converts the store's final state into Holdings (one per live member and bucket it
// holds). CheckConvergence: after quiescence every initialized holder has the primary's entries,
// tombstones and versions included. CheckAcknowledgedWrites: the primaries' final state is
// consistent with every acknowledged write, by rules that never blame a correct run however many
// writes ended with an unknown outcome. CheckRedundancy: every bucket has its wanted number of
// initialized copies, or as many as there are live members. Violations name the bucket, the key,
// every holder's value and version, and trace positions: the writes' op events and, per holder,
// the last event at that holder carrying the key as attribute "key" or else the last
// image-chunk-applied event for the bucket (what the trace provides; 0 when it has neither).
//
// # Reports
//
// WriteReport writes a directory a person opens: the report page (index.html, one self-contained
// HTML file: a headline with verdict, check, key, bucket, violation, run and a copyable replay
// command, then one panel per failing key, illegal keys first, with the key's operations on a time
// axis by client name, the trace's crashes (and who caused them), partitions, view changes,
// primaries and state-flush phases of its bucket as rows, the holders' final state and, through
// ReportInput.Diagram, a space-time diagram); porcupine's visualization of the illegal keys
// (porcupine.html, with the same annotations, opened at the first illegal point); the trace
// (trace.jsonl), the history (history.json), the verdicts and violations (violations.json and, in
// words, summary.txt) and the replay command (replay.sh).
//
// A history from outside the simulator, with no trace, gets the same page with its headline and
// operation panels (no rows from a trace, no diagram):
//
//	err := linearizability.WriteReport(dir, linearizability.ReportInput{
//		History: h, Verdicts: []linearizability.Verdict{verdict}, Violations: violations,
//		ReplayCommand: "stateflush check history.json"})
//
// # Tests
//
// go test ./linearizability/ runs in a few seconds; the page test renders in headless Chromium
// when it is installed (internal/browser). STATEFLUSH_KEEP_REPORT=dir keeps the report
// that TestWriteReportFromTraceToVerdict writes, to open it in a browser.
package linearizability

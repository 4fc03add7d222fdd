package linearizability

import "strings"

// readLookahead lets a search drop a configuration that no continuation can complete because a
// read that overlaps it can no longer return what it returned. The search asks it, after each
// operation it linearizes, about every read that may be linearized next, with the operations that
// may still come before that read (those not linearized whose call precedes the read's return).
// It must be sound: possible may answer true for a read that cannot happen, never false for one
// that can, so the verdicts stay exact; it only prunes.
type readLookahead struct {
	// observes says whether an operation's input is a read the lookahead judges.
	observes func(input any) bool
	// possible says whether the read (input, output) can still be linearized with the value it
	// returned, from state, when only the pending inputs may take effect before it.
	possible func(state, input, output any, pending []any) bool
}

// registerLookahead is the lookahead of the register model (RegisterModel's rules): a value only
// grows by appends, so a read that returned o is still possible only if o is the current value, or
// the value a pending put, write or cas leaves, or nothing (the current absence, or a pending
// delete), followed by pending appends' texts end to end (appendsSpell). Without it, contended keys
// whose appends are read back only after they all returned (eleven to thirteen appends around a
// delete, at 100 servers) made the search try every order of the appends before the delete, each
// refuted only by the read.
var registerLookahead = readLookahead{
	observes: func(input any) bool {
		in := input.(*modelInput)
		return (in.kind == OpGet || in.kind == OpRead) && !in.unknown
	},
	possible: func(state, input, output any, pending []any) bool {
		s := state.(*registerState)
		out := output.(*modelOutput)
		deletes := false
		var appended []string
		for _, p := range pending {
			in := p.(*modelInput)
			switch in.kind {
			case OpAppend:
				appended = append(appended, in.value)
			case OpDelete:
				deletes = true
			}
		}
		if !out.found {
			return !s.present || deletes
		}
		spelled := appendsSpell(out.value, appended)
		after := func(base string) bool {
			return strings.HasPrefix(out.value, base) && spelled[len(base)]
		}
		if s.present && after(s.value) || len(appended) > 0 && (!s.present || deletes) && spelled[0] {
			return true
		}
		for _, p := range pending {
			in := p.(*modelInput)
			overwrites := in.kind == OpPut || in.kind == OpWrite || in.kind == OpCAS && !in.notSwapped
			if overwrites && after(in.afterPut.value) {
				return true
			}
		}
		return false
	},
}

// appendsSpell reports, for each position i of o, whether o[i:] is the texts of some of the
// appended values end to end (a value may be counted more than once, which only makes the answer
// more often true, so the lookahead stays sound); spelled[len(o)] is true.
func appendsSpell(o string, appended []string) []bool {
	spelled := make([]bool, len(o)+1)
	spelled[len(o)] = true
	for i := len(o) - 1; i >= 0; i-- {
		for _, a := range appended {
			if a != "" && strings.HasPrefix(o[i:], a) && spelled[i+len(a)] {
				spelled[i] = true
				break
			}
		}
	}
	return spelled
}

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
// grows by appends, so a read that returned o is still possible only if o extends the current
// value, or the value a pending put, write or cas leaves (or nothing, after a pending delete), by at
// most the text of the pending appends. Without it, a contended key whose appends are all read back
// at the end (eleven appends overlapping a delete, at 100 servers) made the search try every order
// of the appends before the delete, each of which the final reads refute only at the end.
var registerLookahead = readLookahead{
	observes: func(input any) bool {
		in := input.(*modelInput)
		return (in.kind == OpGet || in.kind == OpRead) && !in.unknown
	},
	possible: func(state, input, output any, pending []any) bool {
		s := state.(*registerState)
		out := output.(*modelOutput)
		appended, appends, deletes := 0, false, false
		for _, p := range pending {
			in := p.(*modelInput)
			switch {
			case in.kind == OpAppend:
				appended += len(in.value)
				appends = true
			case in.kind == OpDelete:
				deletes = true
			}
		}
		if !out.found {
			return !s.present || deletes
		}
		extends := func(base string) bool {
			return strings.HasPrefix(out.value, base) && len(out.value)-len(base) <= appended
		}
		if s.present && extends(s.value) || appends && len(out.value) <= appended && (!s.present || deletes) {
			return true
		}
		for _, p := range pending {
			in := p.(*modelInput)
			overwrites := in.kind == OpPut || in.kind == OpWrite || in.kind == OpCAS && !in.notSwapped
			if overwrites && extends(in.afterPut.value) {
				return true
			}
		}
		return false
	},
}

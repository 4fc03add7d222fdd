package formats

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/stateflush/stateflush/internal/edn"
	"github.com/stateflush/stateflush/internal/textinput"
	"github.com/stateflush/stateflush/linearizability"
)

// ErrMalformedJepsen: a Jepsen history or log is not one this package can read. Errors wrap it
// and linearizability.ErrMalformedHistory, and name the line.
var ErrMalformedJepsen = errors.New("malformed Jepsen history")

// ReadJepsenEDN reads a Jepsen history in EDN: operation maps, one per line as Jepsen's
// history.edn and porcupine's test_data/kv have them, or in one vector as knossos has them.
//
// Each map has :process (an integer; :nemesis operations are skipped), :type (:invoke, :ok, :fail
// or :info), :f and :value; other keys (:time, :index, :error, ...) are ignored. The operations
// are those of linearizability's models: :read, :write and :cas (:value [expected new]) of a
// register, and :get, :put, :append and :delete of a key-value store. The key is :key, or the
// first element of a jepsen.independent tuple (:value [key value]); otherwise empty (one register).
//
// As in Jepsen and knossos: an :invoke starts an operation of its process and the next :ok,
// :fail or :info of that process ends it; :ok is a success, with the value a read returned
// (nil: nothing); :fail means it did not happen (a failed write had no effect), except that a
// failed :cas observed a value other than the expected one; :info means the outcome is unknown
// (the operation may take effect at any time after its invocation, or never), and so does an
// invocation that nothing ends. A process whose operation ended in :info has crashed; Jepsen gives
// its successor a new process number, which this reader treats as another client.
//
// Times: the checker needs only the order of events, so an operation's call and return times are
// the positions of its :invoke and of its :ok or :fail among those events (:time is ignored);
// unknown outcomes return at linearizability.InfiniteTimeUS. Values are strings: EDN strings are
// read as their contents, other values (integers, keywords) as written in EDN, so 3 and "3" are
// the same value.
func ReadJepsenEDN(r io.Reader, maxBytes int64) (linearizability.History, error) {
	d := edn.NewDecoder(r, maxBytes)
	b := newBuilder()
	inVector, err := d.EnterVector()
	if err != nil {
		return nil, wrapEDN(err)
	}
	for {
		v, err := d.Next()
		if err == io.EOF || (inVector && err == edn.EndOfVector) {
			break
		}
		if err != nil {
			return nil, wrapEDN(err)
		}
		where := d.Position(v.Offset)
		if v.Kind != edn.Map {
			return nil, fmt.Errorf("%w: %w: %s: want an operation map, got a %s", linearizability.ErrMalformedHistory, ErrMalformedJepsen, where, v.Kind)
		}
		e := event{where: where}
		for _, f := range []struct {
			name string
			dst  *edn.Value
		}{{"process", &e.process}, {"type", &e.typ}, {"f", &e.f}} {
			value, ok := v.Get(f.name)
			if !ok {
				return nil, b.fail(where, "an operation without :%s", f.name)
			}
			*f.dst = value
		}
		e.value, _ = v.Get("value")
		if key, ok := v.Get("key"); ok {
			e.key = &key
		}
		if err := b.add(e); err != nil {
			return nil, err
		}
	}
	return b.finish()
}

// ReadPorcupineLog reads the Jepsen operation log that porcupine's tests read
// (test_data/jepsen/etcd_*.log), one operation event per line:
//
//	INFO  jepsen.util - 2	:invoke	:cas	[3 0]
//	INFO  jepsen.util - 2	:ok	:cas	[3 0]
//	INFO  jepsen.util - 4	:fail	:read	:timed-out
//
// after "jepsen.util - " come the process, the type, the function and the value, as EDN, with
// the meaning ReadJepsenEDN gives them. Other lines of a Jepsen log (those without
// "jepsen.util - ") are skipped; a file without any operation line is an error.
func ReadPorcupineLog(r io.Reader, maxBytes int64) (linearizability.History, error) {
	in := textinput.NewReader(r, maxBytes)
	br := bufio.NewReaderSize(in, 64<<10)
	b := newBuilder()
	lines := 0
	var offset int64
	for {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, wrapEDN(err)
		}
		if len(line) > 0 {
			lines++
			where := fmt.Sprintf("line %d (byte offset %d)", lines, offset)
			offset += int64(len(line))
			if _, rest, ok := strings.Cut(line, "jepsen.util - "); ok {
				if err := b.add(logEvent(rest, where)); err != nil {
					return nil, err
				}
			}
		}
		if err == io.EOF {
			break
		}
	}
	if b.events == 0 {
		return nil, b.fail(fmt.Sprintf("line %d", lines), "no operation lines (INFO  jepsen.util - PROCESS :TYPE :F VALUE)")
	}
	return b.finish()
}

// logEvent parses the EDN after "jepsen.util - "; a problem is carried to builder.add.
func logEvent(text, where string) event {
	e := event{where: where}
	d := edn.NewDecoder(strings.NewReader(text), 0)
	var values []edn.Value
	for len(values) < 5 {
		v, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			e.problem = fmt.Sprintf("not EDN after \"jepsen.util - \": %v", err)
			return e
		}
		values = append(values, v)
	}
	if len(values) < 3 || len(values) > 4 {
		e.problem = fmt.Sprintf("want PROCESS :TYPE :F VALUE after \"jepsen.util - \", got %d values", len(values))
		return e
	}
	e.process, e.typ, e.f = values[0], values[1], values[2]
	if len(values) == 4 {
		e.value = values[3]
	}
	return e
}

// event is one entry of a Jepsen history.
type event struct {
	process, typ, f, value edn.Value
	key                    *edn.Value // :key, when the map has one
	where                  string
	problem                string // set by a reader that could not parse the entry
}

// builder turns Jepsen events into a history.
type builder struct {
	h       linearizability.History
	pending map[int32]pendingOp
	seqs    map[int32]uint64
	clock   int64
	events  int
}

type pendingOp struct {
	index int
	where string
	f     string
	// keyed: the key came from an independent tuple, which the completion must repeat.
	keyed bool
}

func newBuilder() *builder {
	return &builder{pending: map[int32]pendingOp{}, seqs: map[int32]uint64{}}
}

func (b *builder) fail(where, format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s: %s", linearizability.ErrMalformedHistory, ErrMalformedJepsen, where, fmt.Sprintf(format, args...))
}

func wrapEDN(err error) error {
	return fmt.Errorf("%w: %w", linearizability.ErrMalformedHistory, err)
}

var kinds = map[string]linearizability.OpKind{
	"read": linearizability.OpRead, "write": linearizability.OpWrite, "cas": linearizability.OpCAS,
	"get": linearizability.OpGet, "put": linearizability.OpPut, "append": linearizability.OpAppend, "delete": linearizability.OpDelete,
}

func (b *builder) add(e event) error {
	if e.problem != "" {
		return b.fail(e.where, "%s", e.problem)
	}
	if e.process.Kind == edn.Keyword && e.process.Text == "nemesis" {
		return nil
	}
	if e.process.Kind != edn.Int {
		return b.fail(e.where, ":process %s is neither an integer nor :nemesis", e.process)
	}
	var process int64
	if _, err := fmt.Sscan(e.process.Text, &process); err != nil || process < 0 || process > math.MaxInt32 {
		return b.fail(e.where, ":process %s is out of range [0, %d]", e.process.Text, math.MaxInt32)
	}
	client := int32(process)
	if e.typ.Kind != edn.Keyword || e.f.Kind != edn.Keyword {
		return b.fail(e.where, ":type and :f must be keywords, got %s and %s", e.typ, e.f)
	}
	kind, ok := kinds[e.f.Text]
	if !ok {
		return b.fail(e.where, "unsupported :f :%s (this reader knows :read, :write, :cas, :get, :put, :append and :delete)", e.f.Text)
	}
	b.events++
	pending, busy := b.pending[client]
	if e.typ.Text == "invoke" {
		if busy {
			return b.fail(e.where, "process %d invokes :%s while its :%s from %s has not ended (a process runs one operation at a time)", client, e.f.Text, pending.f, pending.where)
		}
		op, keyed, err := b.invocation(client, kind, e)
		if err != nil {
			return err
		}
		b.pending[client] = pendingOp{index: len(b.h), where: e.where, f: e.f.Text, keyed: keyed}
		b.h = append(b.h, op)
		return nil
	}
	switch e.typ.Text {
	case "ok", "fail", "info":
	default:
		return b.fail(e.where, "unknown :type :%s (want :invoke, :ok, :fail or :info)", e.typ.Text)
	}
	if !busy {
		return b.fail(e.where, "process %d completes :%s (:%s) without an invocation", client, e.f.Text, e.typ.Text)
	}
	if pending.f != e.f.Text {
		return b.fail(e.where, "process %d completes :%s but invoked :%s at %s", client, e.f.Text, pending.f, pending.where)
	}
	delete(b.pending, client)
	op := &b.h[pending.index]
	switch e.typ.Text {
	case "info":
		op.Status, op.ReturnUS = linearizability.StatusUnknown, linearizability.InfiniteTimeUS
		return nil
	case "fail":
		op.Status = linearizability.StatusFail
	case "ok":
		op.Status = linearizability.StatusOK
		if kind == linearizability.OpRead || kind == linearizability.OpGet {
			value := e.value
			if pending.keyed {
				key, inner, ok := tuple(value)
				if !ok || scalar(key) != op.Key {
					return b.fail(e.where, "the completion's :value %s is not a [key value] tuple of key %q", shorten(value.String()), op.Key)
				}
				value = inner
			}
			if value.Kind != edn.Nil {
				text, err := b.text(value, e.where, "the value read")
				if err != nil {
					return err
				}
				op.Found, op.Output = true, text
			}
		}
	}
	op.ReturnUS = b.tick()
	return nil
}

func (b *builder) tick() int64 {
	t := b.clock
	b.clock++
	return t
}

// invocation builds the operation an :invoke starts.
func (b *builder) invocation(client int32, kind linearizability.OpKind, e event) (linearizability.Operation, bool, error) {
	b.seqs[client]++
	op := linearizability.Operation{Client: client, Seq: b.seqs[client], Kind: kind, Status: linearizability.StatusUnknown, CallUS: b.tick(), ReturnUS: linearizability.InfiniteTimeUS}
	value, keyed := e.value, false
	if e.key != nil {
		key, err := b.text(*e.key, e.where, ":key")
		if err != nil {
			return op, false, err
		}
		op.Key = key
	} else if key, inner, ok := tuple(value); ok && (kind != linearizability.OpCAS || inner.Kind == edn.Vector) {
		// A jepsen.independent tuple: [key value]; a plain cas's value is [expected new].
		text, err := b.text(key, e.where, "the key of the [key value] tuple")
		if err != nil {
			return op, false, err
		}
		op.Key, value, keyed = text, inner, true
	}
	switch kind {
	case linearizability.OpWrite, linearizability.OpPut, linearizability.OpAppend:
		text, err := b.text(value, e.where, ":value")
		if err != nil {
			return op, false, err
		}
		op.Value = text
	case linearizability.OpCAS:
		expected, next, ok := tuple(value)
		if !ok {
			return op, false, b.fail(e.where, "a :cas :value must be [expected new], got %s", shorten(value.String()))
		}
		var err error
		if op.Expected, err = b.text(expected, e.where, "the expected value"); err != nil {
			return op, false, err
		}
		if op.Value, err = b.text(next, e.where, "the new value"); err != nil {
			return op, false, err
		}
	}
	return op, keyed, nil
}

// tuple splits a two-element vector.
func tuple(v edn.Value) (first, second edn.Value, ok bool) {
	if v.Kind != edn.Vector || len(v.Items) != 2 {
		return edn.Value{}, edn.Value{}, false
	}
	return v.Items[0], v.Items[1], true
}

// scalar is the text a scalar value stands for (see ReadJepsenEDN).
func scalar(v edn.Value) string {
	if v.Kind == edn.String {
		return v.Text
	}
	return v.String()
}

func (b *builder) text(v edn.Value, where, what string) (string, error) {
	switch v.Kind {
	case edn.String, edn.Int, edn.Keyword, edn.Symbol, edn.Float, edn.Bool, edn.Char:
		return scalar(v), nil
	}
	return "", b.fail(where, "%s must be a string, number or keyword, got %s", what, shorten(v.String()))
}

// finish ends the operations still pending (unknown outcome) and checks the history.
func (b *builder) finish() (linearizability.History, error) {
	// Pending operations keep the unknown status and infinite return they were created with.
	if b.h == nil {
		b.h = linearizability.History{}
	}
	if err := b.h.Validate(); err != nil {
		return nil, err
	}
	return b.h, nil
}

// WriteJepsenEDN writes a history as a Jepsen EDN history, one operation map per line, that
// ReadJepsenEDN reads back as the same operations: events in time order (at equal times calls
// first, since intervals are closed), the key as :key when there is one, values as strings, an
// :info at the end for each operation of unknown outcome. A client's operations after one of
// unknown outcome get a new process number, as Jepsen gives a crashed process's successor.
// Snapshots have no Jepsen form and are an error.
func WriteJepsenEDN(w io.Writer, h linearizability.History) error {
	if err := h.Validate(); err != nil {
		return err
	}
	type point struct {
		time     int64
		isReturn bool
		index    int
	}
	points := make([]point, 0, 2*len(h))
	process := make([]int64, len(h))
	var next int64
	for i := range h {
		next = max(next, int64(h[i].Client)+1)
	}
	crashed := map[int32]int64{} // client -> its current process, once it has crashed
	order := make([]int, len(h))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(h[a].CallUS, h[b].CallUS) })
	for _, i := range order {
		op := &h[i]
		switch op.Kind {
		case linearizability.OpSnapshot, linearizability.OpLock, linearizability.OpUnlock:
			return fmt.Errorf("%w: operation %d: a %s has no Jepsen EDN form (keep the history in JSON)", linearizability.ErrInvalidParameter, i, op.Kind)
		}
		process[i] = int64(op.Client)
		if p, ok := crashed[op.Client]; ok {
			process[i] = p
		}
		points = append(points, point{op.CallUS, false, i})
		if op.Status == linearizability.StatusUnknown {
			crashed[op.Client] = next
			next++
		} else {
			points = append(points, point{op.ReturnUS, true, i})
		}
	}
	slices.SortStableFunc(points, func(a, b point) int {
		switch {
		case a.time != b.time:
			return cmp.Compare(a.time, b.time)
		case a.isReturn != b.isReturn:
			if a.isReturn {
				return 1
			}
			return -1
		}
		return a.index - b.index
	})
	bw := bufio.NewWriter(w)
	for _, p := range points {
		op := &h[p.index]
		typ := ":invoke"
		if p.isReturn {
			typ = ":" + map[linearizability.Status]string{linearizability.StatusOK: "ok", linearizability.StatusFail: "fail"}[op.Status]
		}
		writeEvent(bw, op, typ, process[p.index], p.isReturn)
	}
	for _, i := range order {
		if op := &h[i]; op.Status == linearizability.StatusUnknown {
			writeEvent(bw, op, ":info", process[i], true)
		}
	}
	return bw.Flush()
}

func writeEvent(w *bufio.Writer, op *linearizability.Operation, typ string, process int64, completion bool) {
	value := "nil"
	switch op.Kind {
	case linearizability.OpWrite, linearizability.OpPut, linearizability.OpAppend:
		value = edn.Quote(op.Value)
	case linearizability.OpCAS:
		value = "[" + edn.Quote(op.Expected) + " " + edn.Quote(op.Value) + "]"
	case linearizability.OpRead, linearizability.OpGet:
		if completion && op.Status == linearizability.StatusOK && op.Found {
			value = edn.Quote(op.Output)
		}
	}
	fmt.Fprintf(w, "{:process %d, :type %s, :f :%s", process, typ, op.Kind)
	if op.Key != "" {
		fmt.Fprintf(w, ", :key %s", edn.Quote(op.Key))
	}
	fmt.Fprintf(w, ", :value %s}\n", value)
}

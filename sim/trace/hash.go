package trace

// HashVersion names the canonical encoding and mixing function below. A change to either changes
// every trace hash, so it must come with a new HashVersion (and a new trace format Version).
const HashVersion = 1

// Hasher computes the trace hash incrementally, one record at a time, without allocating. The zero
// value is ready to use. The simulator feeds it every record it writes (in HashOnly mode it keeps
// nothing else), so Hash(records) of a Full trace equals the simulator's running hash.
//
// Canonical encoding (HashVersion 1). Each record is a sequence of 64-bit words:
//
//	Seq, TimeUS, Kind (string), Node<<32|Peer (each as 32 bits), Incarnation, MsgID, TimerID, Cause,
//	Name (string), number of hashed attrs, then Key and Value (strings) of each hashed attr.
//
// A string is its byte length followed by its bytes packed eight to a word, little-endian, the last
// word padded with zeros. Each word w is mixed into the state h as
//
//	h = (h ^ w) * 0x9E3779B97F4A7C15;  h ^= h >> 29
//
// and Sum64 finalizes the state and the record count with the 64-bit MurmurHash3 finalizer. The
// encoding works on words rather than bytes because the simulator hashes two records per message on
// its hot path; it is still fixed, documented and independent of map order or JSON formatting.
//
// The attrs of send and timer-set records are not hashed (see AttrsHashed): they describe the message
// or timer for a human reader, and the simulator attaches them only in Full mode. Leaving them out
// keeps a Full run and a HashOnly run of the same seed at the same hash.
type Hasher struct {
	state   uint64
	records uint64
}

// AttrsHashed reports whether the attrs of records of the given kind are part of the trace hash.
// They are, except for send and timer-set records, whose attrs are descriptive only.
func AttrsHashed(k Kind) bool { return k != KindSend && k != KindTimerSet }

// Add mixes one record into the hash.
func (h *Hasher) Add(r *Record) {
	if !AttrsHashed(r.Kind) {
		h.AddHead(r, 0)
		return
	}
	h.AddHead(r, len(r.Attrs))
	for _, a := range r.Attrs {
		h.AddAttr(a)
	}
}

// AddHead mixes every field of a record except its attrs, and announces that attrCount attrs follow
// through AddAttr. Together they let a caller hash a record whose attrs are held in another type
// without building a []Attr: AddHead(r, n) followed by n AddAttr calls equals Add of the record with
// those n attrs. For kinds whose attrs are not hashed (AttrsHashed false) attrCount must be 0.
func (h *Hasher) AddHead(r *Record, attrCount int) {
	h.records++
	h.word(r.Seq)
	h.word(uint64(r.TimeUS))
	h.str(string(r.Kind))
	h.word(uint64(uint32(r.Node))<<32 | uint64(uint32(r.Peer)))
	h.word(uint64(r.Incarnation))
	h.word(r.MsgID)
	h.word(r.TimerID)
	h.word(r.Cause)
	h.str(r.Name)
	h.word(uint64(attrCount))
}

// AddAttr mixes one attr of the record begun by the last AddHead.
func (h *Hasher) AddAttr(a Attr) {
	h.str(a.Key)
	h.str(a.Value)
}

// Sum64 returns the hash of the records added so far. It does not change the state, so adding may
// continue afterwards.
func (h *Hasher) Sum64() uint64 {
	x := h.state ^ (h.records * 0xC2B2AE3D27D4EB4F)
	x ^= x >> 33
	x *= 0xFF51AFD7ED558CCD
	x ^= x >> 33
	x *= 0xC4CEB9FE1A85EC53
	x ^= x >> 33
	return x
}

// Records returns how many records were added.
func (h *Hasher) Records() uint64 { return h.records }

// Hash returns the trace hash of a sequence of records: the value a Hasher fed the same records
// returns, and the value the simulator reports for the run that wrote them.
func Hash(records []Record) uint64 {
	var h Hasher
	for i := range records {
		h.Add(&records[i])
	}
	return h.Sum64()
}

func (h *Hasher) word(w uint64) {
	x := (h.state ^ w) * 0x9E3779B97F4A7C15
	h.state = x ^ (x >> 29)
}

func (h *Hasher) str(s string) {
	h.word(uint64(len(s)))
	i := 0
	for ; i+8 <= len(s); i += 8 {
		h.word(uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56)
	}
	if i < len(s) {
		var w uint64
		for shift := 0; i < len(s); i, shift = i+1, shift+8 {
			w |= uint64(s[i]) << shift
		}
		h.word(w)
	}
}

package trace

import "math/bits"

// HashVersion names the canonical encoding and mixing function below. A change to either changes
// every trace hash, so it must come with a new HashVersion (and a new trace format Version).
//
// Version 2 mixes two words per 128-bit multiplication and packs short strings and the
// incarnation with the attr count into single words: the simulator hashes two records per message
// on its hot path, and version 1's one dependent multiplication per word (fourteen per record) was
// a third of the simulator's cost per message in BenchmarkPingPong8.
const HashVersion = 2

// Hasher computes the trace hash incrementally, one record at a time, without allocating. The zero
// value is ready to use. The simulator feeds it every record it writes (in HashOnly mode it keeps
// nothing else), so Hash(records) of a Full trace equals the simulator's running hash.
//
// Canonical encoding (HashVersion 2). Each record is a sequence of 64-bit words:
//
//	Seq, TimeUS, Kind (string), Node<<32|Peer (each as 32 bits), Incarnation<<32|number of hashed
//	attrs, MsgID, TimerID, Cause, Name (string), then Key and Value (strings) of each hashed attr.
//
// A string shorter than eight bytes is one word: its bytes little-endian with its length in the top
// byte. A longer one is its length with the top byte 0xFF, then its bytes packed eight to a word,
// little-endian, the last word padded with zeros. The words are mixed in pairs (a, b), the first
// word of the next record pairing with the last of this one when a record has an odd count:
//
//	x = h ^ a;  hi, lo = 128-bit product of (x ^ 0xA0761D6478BD642F) and (b ^ 0xE7037ED1A0B428DB);
//	h = (hi ^ lo) + x
//
// and Sum64 mixes a pending unpaired word with 0, then finalizes the state and the record count with
// the 64-bit MurmurHash3 finalizer. The encoding works on words rather than bytes for speed; it is
// still fixed, documented and independent of map order or JSON formatting.
//
// The attrs of send and timer-set records are not hashed (see AttrsHashed): they describe the message
// or timer for a human reader, and the simulator attaches them only in Full mode. Leaving them out
// keeps a Full run and a HashOnly run of the same seed at the same hash.
type Hasher struct {
	state   uint64
	records uint64
	half    uint64 // the first word of a pair, while odd
	odd     bool
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
	h.AddFields(r.Seq, r.TimeUS, r.Kind, r.Node, r.Peer, r.Incarnation, r.MsgID, r.TimerID, r.Cause, r.Name, attrCount)
}

// AddFields is AddHead of a record with these fields, for a caller that keeps no Record: the
// simulator in HashOnly mode hashes two records per message, and building each 120-byte Record
// only to hash it was a sixth of its cost per message.
func (h *Hasher) AddFields(seq uint64, timeUS int64, kind Kind, node, peer int32, inc uint32, msgID, timerID, cause uint64, name string, attrCount int) {
	h.records++
	h.word(seq)
	h.word(uint64(timeUS))
	h.str(string(kind))
	h.word(uint64(uint32(node))<<32 | uint64(uint32(peer)))
	h.word(uint64(inc)<<32 | uint64(uint32(attrCount)))
	h.word(msgID)
	h.word(timerID)
	h.word(cause)
	h.str(name)
}

// AddAttr mixes one attr of the record begun by the last AddHead.
func (h *Hasher) AddAttr(a Attr) {
	h.str(a.Key)
	h.str(a.Value)
}

// Sum64 returns the hash of the records added so far. It does not change the state, so adding may
// continue afterwards.
func (h *Hasher) Sum64() uint64 {
	state := h.state
	if h.odd {
		state = mix(state, h.half, 0)
	}
	x := state ^ (h.records * 0xC2B2AE3D27D4EB4F)
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
	if !h.odd {
		h.half, h.odd = w, true
		return
	}
	h.state, h.odd = mix(h.state, h.half, w), false
}

// mix is one step of the state over the pair (a, b).
func mix(state, a, b uint64) uint64 {
	x := state ^ a
	hi, lo := bits.Mul64(x^0xA0761D6478BD642F, b^0xE7037ED1A0B428DB)
	return (hi ^ lo) + x
}

func (h *Hasher) str(s string) {
	if len(s) < 8 {
		h.word(uint64(len(s))<<56 | packShort(s))
		return
	}
	h.word(uint64(len(s)) | 0xFF<<56)
	i := 0
	for ; i+8 <= len(s); i += 8 {
		h.word(uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56)
	}
	if i < len(s) {
		h.word(packShort(s[i:]))
	}
}

// packShort packs a string of fewer than eight bytes little-endian into a word, as a byte loop
// would, with overlapping loads instead of one shift per byte (kinds and message names are short,
// and two of them are hashed per record).
func packShort(s string) uint64 {
	n := len(s)
	switch {
	case n >= 4:
		lo := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
		hi := uint64(s[n-4]) | uint64(s[n-3])<<8 | uint64(s[n-2])<<16 | uint64(s[n-1])<<24
		return lo | hi<<(8*(n-4))
	case n > 0:
		return uint64(s[0]) | uint64(s[n/2])<<(8*(n/2)) | uint64(s[n-1])<<(8*(n-1))
	}
	return 0
}

package protocol

// Names of the trace events that protocol code emits through Env.Emit. They are the contract between
// the protocols and everything that reads traces (the checkers, reports, charts), so they are defined
// once, here.
//
// Client operations. A client emits EventOpInvoke when it invokes an operation and EventOpReturn
// when the operation ends. An invoke without a return (the run ended first) has an unknown outcome.
//
//	op-invoke attrs: client (node id), seq (per-client sequence number, from 1), op (one of the Op*
//	                 constants), key, value (put and append: the value; unlock: the token; lock:
//	                 the lease in µs, if any)
//	op-return attrs: client, seq, status (one of the Status* constants), and for a get with status
//	                 ok: found ("true" or "false") and value; for a snapshot with status ok: value (the
//	                 JSON object of every live key's value); for a lock with status ok: token
const (
	EventOpInvoke = "op-invoke"
	EventOpReturn = "op-return"
)

// Client operation names (the "op" attribute).
const (
	OpGet      = "get"
	OpPut      = "put"
	OpDelete   = "delete"
	OpAppend   = "append"
	OpSnapshot = "snapshot"
	// The lock service's operations (protocol/dlock): lock's op-invoke names the lock in key, its
	// op-return with status ok carries the fencing token in token; unlock's op-invoke carries the
	// token in value.
	OpLock   = "lock"
	OpUnlock = "unlock"
)

// Client operation outcomes (the "status" attribute).
const (
	// StatusOK: the operation took effect (or read) exactly once, and the output is what it returned.
	StatusOK = "ok"
	// StatusFail: the operation surely had no effect (rejected before any member applied it).
	StatusFail = "fail"
	// StatusUnknown: the client gave up (timeouts, redirects ran out); it may or may not have taken effect.
	StatusUnknown = "unknown"
)

// Replica creation and membership events, emitted by servers with attrs bucket, and where they apply
// replica (the new copy's node id), source (the image source's node id), holder, primary, view.
const (
	EventViewChange         = "view-change"         // a member installed a new view (attrs view, members)
	EventAnnounceSent       = "announce-sent"       // the new replica sent its profile to every holder
	EventAnnounceComplete   = "announce-complete"   // every holder installed the profile
	EventMittOpen           = "mitt-open"           // the new replica applies replicated writes while uninitialized
	EventMarkerSent         = "marker-sent"         // a state marker naming the source went to a holder
	EventHolderStable       = "holder-stable"       // the source reported a holder's channel flushed
	EventFlushComplete      = "flush-complete"      // every holder answered or departed
	EventImageChunkSent     = "image-chunk-sent"    // the source sent one chunk of its live map
	EventImageChunkApplied  = "image-chunk-applied" // the new replica applied one chunk
	EventImageDiscarded     = "image-discarded"     // the source died: partial image and mitt discarded
	EventInitialized        = "initialized"         // the new replica holds a complete copy
	EventPrimaryChange      = "primary-change"      // a bucket's primary moved (attrs primary)
	EventRedundancyRestored = "redundancy-restored" // a bucket again has its configured number of copies
	EventDataLost           = "data-lost"           // no initialized copy of a bucket is left
	EventWriteBlocked       = "write-blocked"       // blocking baseline: a write waits for the copy
)

// Chandy–Lamport snapshot events. The consistent-cut checker reads them from the trace:
//
//	snapshot-local    attrs snapshot (id), state (the recorded local state, protocol-specific text).
//	                  The record's Seq is the member's cut point: every record of that member with a
//	                  smaller Seq is inside the cut.
//	snapshot-channel  attrs snapshot, from. The message whose delivery caused this record (its Cause)
//	                  is recorded as in flight on the channel from -> this member.
//	snapshot-marker   attrs snapshot, from. The marker on the channel from -> this member arrived; the
//	                  channel's recording is closed.
//	snapshot-complete attrs snapshot, members; emitted by the initiator when the result is gathered.
//	snapshot-aborted  attrs snapshot, reason.
const (
	EventSnapshotLocal    = "snapshot-local"
	EventSnapshotChannel  = "snapshot-channel"
	EventSnapshotMarker   = "snapshot-marker"
	EventSnapshotComplete = "snapshot-complete"
	EventSnapshotAborted  = "snapshot-aborted"
)

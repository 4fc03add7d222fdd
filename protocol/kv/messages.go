package kv

import (
	"strconv"
	"strings"

	"github.com/stateflush/stateflush/protocol"
)

// Messages. Every type has a stable Type() name (it names the message in traces) and TraceAttrs
// (the optional interface the simulator's trace uses to make sends readable). Messages are
// immutable once sent.

// Hdr is carried by every server-to-server message: the sender's incarnation and the incarnation of
// the receiver the sender has in mind. A receiver drops (and counts) a message meant for another of
// its incarnations or sent by an older incarnation of a member it knows.
type Hdr struct {
	FromInc, ToInc uint32
}

// anyIncarnation addresses whatever incarnation receives the message (a joining server does not
// know the others' incarnations).
const anyIncarnation = ^uint32(0)

func (h Hdr) header() Hdr { return h }

type serverMessage interface {
	protocol.Message
	header() Hdr
}

// bucketMessage is a server message about one bucket; a bucket index outside the cluster is dropped.
type bucketMessage interface {
	bucketIndex() int
}

func a(key string, v any) protocol.Attr { return protocol.A(key, v) }

// Heartbeat tells the receiver the sender is alive (it is small: the sender's view version only).
type Heartbeat struct {
	Hdr
	View ConfigVersion
}

func (*Heartbeat) Type() string { return "heartbeat" }

// Background: heartbeats are the failure detector's own traffic and do not keep a run from being
// quiescent, as the heartbeat timer does not while nobody is overdue.
func (*Heartbeat) Background() bool { return true }
func (m *Heartbeat) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{protocol.AStr("view", m.View.String())}
}

// Suspect asks a checker to check a member its watcher has not heard from for the
// failure-detection timeout (detector.go).
type Suspect struct {
	Hdr
	Suspect Member
}

func (*Suspect) Type() string                  { return "suspect" }
func (*Suspect) Background() bool              { return true }
func (m *Suspect) TraceAttrs() []protocol.Attr { return []protocol.Attr{a("suspect", m.Suspect)} }

// CheckRequest is a final check: the receiver, suspected, answers at once with a CheckReply.
type CheckRequest struct {
	Hdr
}

func (*CheckRequest) Type() string                { return "check-request" }
func (*CheckRequest) Background() bool            { return true }
func (*CheckRequest) TraceAttrs() []protocol.Attr { return nil }

// CheckReply answers a final check; like any message from the suspect it proves it alive.
type CheckReply struct {
	Hdr
}

func (*CheckReply) Type() string                { return "check-reply" }
func (*CheckReply) Background() bool            { return true }
func (*CheckReply) TraceAttrs() []protocol.Attr { return nil }

// Verdict is a final check's outcome: to the watcher that asked when the suspect answered, to
// every member of the view when it failed to.
type Verdict struct {
	Hdr
	Suspect Member
	Failed  bool
}

func (*Verdict) Type() string     { return "verdict" }
func (*Verdict) Background() bool { return true }
func (m *Verdict) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{a("suspect", m.Suspect), a("failed", m.Failed)}
}

// The failure detector's messages (Heartbeat, Suspect, CheckRequest, CheckReply, Verdict) are
// background traffic: a run is not kept from quiescence by them, but by the heartbeat timer, which
// is a foreground timer while a suspicion or a check is under way (anyOverdue).

// Join asks the coordinator to add a restarted server to the view as a new member.
type Join struct {
	Hdr
}

func (*Join) Type() string                { return "join" }
func (*Join) TraceAttrs() []protocol.Attr { return nil }

// ViewMsg carries a new view from the coordinator to every member (and to removed members, which
// then disconnect).
type ViewMsg struct {
	Hdr
	View *View
	// Departed: the sender holds the receiver departed and drops what it sends, joins included;
	// only a new incarnation of it can join again.
	Departed bool
}

func (*ViewMsg) Type() string { return "view" }
func (m *ViewMsg) TraceAttrs() []protocol.Attr {
	if m.Departed {
		return []protocol.Attr{a("view", m.View.Version), a("members", m.View.memberNames()), a("buckets", m.View.bucketSummary()), a("departed", true)}
	}
	return []protocol.Attr{a("view", m.View.Version), a("members", m.View.memberNames()), a("buckets", m.View.bucketSummary())}
}

// EvictRequest: the sender lost its connection to Member, and asks the coordinator to remove it
// (connections.go).
type EvictRequest struct {
	Hdr
	Member Member
}

func (*EvictRequest) Type() string                  { return "evict-request" }
func (m *EvictRequest) TraceAttrs() []protocol.Attr { return []protocol.Attr{a("member", m.Member)} }

// ReadFence: the primary asks a holder whether it still accepts this primary at Epoch before it
// answers a get (reads.go); ReadFenceReply answers with ackApplied (yes), ackRejected (it accepts
// Primary at Epoch) or ackNotHolder.
type ReadFence struct {
	Hdr
	Bucket int
	Epoch  uint64
	ReadID uint64
}

func (*ReadFence) Type() string       { return "read-fence" }
func (m *ReadFence) bucketIndex() int { return m.Bucket }
func (m *ReadFence) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{protocol.AInt("bucket", m.Bucket), protocol.AUint("epoch", m.Epoch), protocol.AUint("read", m.ReadID)}
}

// ReadFenceReply answers a ReadFence.
type ReadFenceReply struct {
	Hdr
	Bucket  int
	ReadID  uint64
	Outcome ackOutcome
	Primary Member
	Epoch   uint64
}

func (*ReadFenceReply) Type() string       { return "read-fence-reply" }
func (m *ReadFenceReply) bucketIndex() int { return m.Bucket }
func (m *ReadFenceReply) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{protocol.AInt("bucket", m.Bucket), protocol.AUint("read", m.ReadID), a("outcome", m.Outcome)}
}

// PartitionShutdown: the sender, about to publish a view that loses at least half of the previous
// view's weight (View's), shuts its side of a partition down; the receiver disconnects.
type PartitionShutdown struct {
	Hdr
	View         ConfigVersion
	Lost, Weight int
}

func (*PartitionShutdown) Type() string { return "partition-shutdown" }
func (m *PartitionShutdown) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{a("view", m.View), a("lost", m.Lost), a("weight", m.Weight)}
}

// TakeoverQuery: a member that suspects every older member becomes coordinator; it first asks the
// others for their view and holdings.
type TakeoverQuery struct {
	Hdr
	Term uint64
}

func (*TakeoverQuery) Type() string                  { return "takeover-query" }
func (m *TakeoverQuery) TraceAttrs() []protocol.Attr { return []protocol.Attr{a("term", m.Term)} }

// BucketFact is what a member reports about one bucket it holds during a coordinator takeover.
type BucketFact struct {
	Bucket      int
	Initialized bool
	Since       ConfigVersion
	// Primary and Epoch are the primary the member currently accepts writes from.
	Primary Member
	Epoch   uint64
}

// TakeoverReply answers a TakeoverQuery. View is nil when the member is not in any view yet (it
// is joining).
type TakeoverReply struct {
	Hdr
	Term  uint64
	View  *View
	Facts []BucketFact
	// Refused: the member already answered a takeover of this term or a later one (Term is then the
	// highest term it has seen), so the asker must take over again under a newer term.
	Refused bool
}

func (*TakeoverReply) Type() string { return "takeover-reply" }
func (m *TakeoverReply) TraceAttrs() []protocol.Attr {
	view := "none"
	if m.View != nil {
		view = m.View.Version.String()
	}
	if m.Refused {
		return []protocol.Attr{a("term", m.Term), a("refused", true)}
	}
	return []protocol.Attr{a("term", m.Term), a("view", view), a("copies", len(m.Facts))}
}

// Rebalance asks the coordinator to create a copy of Bucket on Target and then remove one old copy.
// It is injected from protocol.External; a server that is not the coordinator forwards it.
type Rebalance struct {
	Bucket int
	Target protocol.NodeID
}

func (*Rebalance) Type() string { return "rebalance" }
func (m *Rebalance) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{a("bucket", m.Bucket), a("target", m.Target)}
}

// Initialized: the new copy is complete. Sent to every holder (which marks the profile initialized)
// and to the coordinator (which updates the bucket's metadata).
type Initialized struct {
	Hdr
	Bucket  int
	Attempt uint64
	// Since is the view that assigned the copy: a notice about an earlier assignment of the same
	// member (removed and assigned again since) is stale and ignored.
	Since ConfigVersion
}

func (*Initialized) Type() string       { return "initialized" }
func (m *Initialized) bucketIndex() int { return m.Bucket }
func (m *Initialized) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{a("bucket", m.Bucket), a("attempt", m.Attempt)}
}

// CreationFailed: the new copy found no initialized source; the coordinator declares the data lost.
type CreationFailed struct {
	Hdr
	Bucket  int
	Attempt uint64
	Since   ConfigVersion
}

func (*CreationFailed) Type() string       { return "creation-failed" }
func (m *CreationFailed) bucketIndex() int { return m.Bucket }
func (m *CreationFailed) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{a("bucket", m.Bucket), a("attempt", m.Attempt)}
}

// Announce is the new copy's profile, marked uninitialized: from its installation on, every write
// the holder starts also goes to the new copy.
type Announce struct {
	Hdr
	Bucket  int
	Attempt uint64
	Since   ConfigVersion
}

func (*Announce) Type() string       { return "announce" }
func (m *Announce) bucketIndex() int { return m.Bucket }
func (m *Announce) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{a("bucket", m.Bucket), a("attempt", m.Attempt)}
}

// AnnounceReply: the holder installed the profile (Holds) or holds no copy. It carries the primary
// the holder accepts writes from, so the new copy learns of a primary change early.
type AnnounceReply struct {
	Hdr
	Bucket  int
	Attempt uint64
	Holds   bool
	Primary Member
	Epoch   uint64
}

func (*AnnounceReply) Type() string       { return "announce-reply" }
func (m *AnnounceReply) bucketIndex() int { return m.Bucket }
func (m *AnnounceReply) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{a("bucket", m.Bucket), a("attempt", m.Attempt), a("holds", m.Holds), a("primary", m.Primary), a("epoch", m.Epoch)}
}

// StateMarker asks a holder to flush its channel to Source (the requester is the sender).
type StateMarker struct {
	Hdr
	Bucket  int
	Attempt uint64
	Source  Member
	// FlushNewOps (a retry's marker, as Geode's StateFlushOperation flag): the holder also waits
	// for every write it has in progress when the marker arrives, not only those started before
	// the announce.
	FlushNewOps bool
	// View is the requester's view when it sent the marker and Holders the bucket's holders in
	// it: the source answers for itself only once it refuses the messages of every holder its own
	// view lists and Holders does not, which the requester counts as flushed for having left (it
	// has installed View or a newer one, or learned of their departure otherwise; flush.go,
	// sourceKnowsDepartures).
	View    ConfigVersion
	Holders []Member
	// Epoch is the primary epoch of the new copy's view: the source reports itself stable only
	// once it is fenced at that epoch (checkMarkerWaits).
	Epoch uint64
}

func (*StateMarker) Type() string       { return "state-marker" }
func (m *StateMarker) bucketIndex() int { return m.Bucket }
func (m *StateMarker) TraceAttrs() []protocol.Attr {
	if m.FlushNewOps {
		return []protocol.Attr{a("bucket", m.Bucket), a("attempt", m.Attempt), a("source", m.Source), a("flush_new_ops", true)}
	}
	return []protocol.Attr{a("bucket", m.Bucket), a("attempt", m.Attempt), a("source", m.Source)}
}

// FlushRecord travels from a holder to the source behind the holder's writes on the same FIFO
// channel: Sent is how many content-changing messages the holder had put on that channel.
type FlushRecord struct {
	Hdr
	Bucket    int
	Requester Member
	Attempt   uint64
	Sent      uint64
}

func (*FlushRecord) Type() string       { return "flush-record" }
func (m *FlushRecord) bucketIndex() int { return m.Bucket }
func (m *FlushRecord) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{a("bucket", m.Bucket), a("replica", m.Requester), a("attempt", m.Attempt), a("sent", m.Sent)}
}

// HolderStable: the source has applied everything Holder sent it before the flush (or, with
// NotHolder, Holder answers that it holds no copy and counts as departed).
type HolderStable struct {
	Hdr
	Bucket    int
	Attempt   uint64
	Holder    Member
	NotHolder bool
	// View is, when the source answers for itself, the View of the marker it answers.
	View ConfigVersion
}

func (*HolderStable) Type() string       { return "holder-stable" }
func (m *HolderStable) bucketIndex() int { return m.Bucket }
func (m *HolderStable) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{a("bucket", m.Bucket), a("attempt", m.Attempt), a("holder", m.Holder), a("not_holder", m.NotHolder)}
}

// RequestImage asks the source to stream its live map.
type RequestImage struct {
	Hdr
	Bucket  int
	Attempt uint64
}

func (*RequestImage) Type() string       { return "request-image" }
func (m *RequestImage) bucketIndex() int { return m.Bucket }
func (m *RequestImage) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{a("bucket", m.Bucket), a("attempt", m.Attempt)}
}

// ImageChunk is one piece of the source's live map in key order, tombstones included. The last
// chunk also carries the source's event-id table.
type ImageChunk struct {
	Hdr
	Bucket  int
	Attempt uint64
	Index   int
	Entries []Entry
	Events  []EventID
	Last    bool
}

func (*ImageChunk) Type() string       { return "image-chunk" }
func (m *ImageChunk) bucketIndex() int { return m.Bucket }
func (m *ImageChunk) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{a("bucket", m.Bucket), a("attempt", m.Attempt), a("index", m.Index),
		a("entries", formatEntries(m.Entries)), a("last", m.Last)}
}

// SourceUnavailable: the chosen source holds no initialized copy (any more).
type SourceUnavailable struct {
	Hdr
	Bucket  int
	Attempt uint64
}

func (*SourceUnavailable) Type() string       { return "source-unavailable" }
func (m *SourceUnavailable) bucketIndex() int { return m.Bucket }
func (m *SourceUnavailable) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{a("bucket", m.Bucket), a("attempt", m.Attempt)}
}

// Replicate is the one content-changing message: a client write (one entry, one event id) or a new
// primary's synchronization push (every entry and the whole event table). Holders apply it only
// from the primary they accept (Epoch fences out older primaries).
type Replicate struct {
	Hdr
	// ChannelSeq numbers the content-changing messages on the channel from sender to receiver (from
	// 1), so a duplicated delivery is recognized and dropped instead of counted twice.
	ChannelSeq uint64
	Bucket     int
	Epoch      uint64
	WriteID    uint64
	Entries    []Entry
	Events     []EventID
	Sync       bool
}

func (*Replicate) Type() string       { return "replicate" }
func (m *Replicate) bucketIndex() int { return m.Bucket }
func (m *Replicate) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{protocol.AInt("bucket", m.Bucket), protocol.AUint("epoch", m.Epoch),
		protocol.AUint("write", m.WriteID), protocol.AStr("entries", formatEntries(m.Entries)),
		protocol.ABool("sync", m.Sync)}
}

// ackOutcome is how a holder handled a Replicate.
type ackOutcome int

const (
	ackApplied ackOutcome = iota
	// ackRejected: the holder accepts writes from a newer primary (Primary, Epoch).
	ackRejected
	// ackNotHolder: the holder has no copy of the bucket (removed, or dropped).
	ackNotHolder
)

var ackOutcomeNames = [...]string{"applied", "rejected", "not-holder"}

func (o ackOutcome) String() string { return ackOutcomeNames[o] }

// WriteAck answers a Replicate.
type WriteAck struct {
	Hdr
	Bucket  int
	WriteID uint64
	Outcome ackOutcome
	Primary Member
	Epoch   uint64
}

func (*WriteAck) Type() string { return "write-ack" }

// Applied reports whether the holder applied the write (rather than rejecting it or holding no copy).
func (m *WriteAck) Applied() bool    { return m.Outcome == ackApplied }
func (m *WriteAck) bucketIndex() int { return m.Bucket }
func (m *WriteAck) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{protocol.AInt("bucket", m.Bucket), protocol.AUint("write", m.WriteID),
		protocol.AStr("outcome", m.Outcome.String())}
}

// SyncCollect: a new primary fences the holder at its epoch and asks for its entries and event ids.
type SyncCollect struct {
	Hdr
	Bucket int
	Epoch  uint64
}

func (*SyncCollect) Type() string       { return "sync-collect" }
func (m *SyncCollect) bucketIndex() int { return m.Bucket }
func (m *SyncCollect) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{a("bucket", m.Bucket), a("epoch", m.Epoch)}
}

// SyncState answers a SyncCollect.
type SyncState struct {
	Hdr
	Bucket  int
	Epoch   uint64
	Holds   bool
	Entries []Entry
	Events  []EventID
}

func (*SyncState) Type() string       { return "sync-state" }
func (m *SyncState) bucketIndex() int { return m.Bucket }
func (m *SyncState) TraceAttrs() []protocol.Attr {
	return []protocol.Attr{a("bucket", m.Bucket), a("epoch", m.Epoch), a("holds", m.Holds), a("entries", len(m.Entries))}
}

// ClientRequest is one attempt of a client operation. Seq with the sender's id is the event id.
type ClientRequest struct {
	Seq   uint64
	Op    string
	Key   string
	Value string
	// AnyCopy: a get that any initialized copy may answer (Config.ReadFromAnyCopy).
	AnyCopy bool
}

func (*ClientRequest) Type() string { return "client-request" }
func (m *ClientRequest) TraceAttrs() []protocol.Attr {
	attrs := make([]protocol.Attr, 3, 4)
	attrs[0], attrs[1], attrs[2] = protocol.AUint("seq", m.Seq), protocol.AStr("op", m.Op), protocol.AStr("key", m.Key)
	if m.Op == protocol.OpPut || m.Op == protocol.OpAppend {
		attrs = append(attrs, protocol.AStr("value", m.Value))
	}
	return attrs
}

// replyStatus is a server's answer to a ClientRequest.
type replyStatus int

const (
	replyOK replyStatus = iota
	// replyRedirect: this server is not the primary; Primary is its best guess (or -1). The attempt
	// surely had no effect.
	replyRedirect
	// replyRetry: the attempt may have been applied (this server stopped being primary while the
	// write was being replicated); retry with the same event id.
	replyRetry
	// replyLost: the bucket's data is lost; the attempt had no effect.
	replyLost
)

var replyStatusNames = [...]string{"ok", "redirect", "retry", "lost"}

func (r replyStatus) String() string { return replyStatusNames[r] }

// ClientReply answers a ClientRequest. A redirect carries the server's knowledge of the bucket.
type ClientReply struct {
	Seq    uint64
	Status replyStatus
	// Read: the reply answers a get (Found and Value are its output).
	Read    bool
	Found   bool
	Value   string
	Bucket  int
	Primary protocol.NodeID
	View    ConfigVersion
	Holders []protocol.NodeID
}

func (*ClientReply) Type() string { return "client-reply" }
func (m *ClientReply) TraceAttrs() []protocol.Attr {
	attrs := make([]protocol.Attr, 2, 4)
	attrs[0], attrs[1] = protocol.AUint("seq", m.Seq), protocol.AStr("status", m.Status.String())
	switch {
	case m.Read:
		attrs = append(attrs, protocol.ABool("found", m.Found), protocol.AStr("value", m.Value))
	case m.Status != replyOK:
		attrs = append(attrs, protocol.AInt("bucket", m.Bucket), protocol.AInt("primary", int(m.Primary)))
	}
	return attrs
}

func formatEntries(es []Entry) string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte(' ')
		}
		if i == 8 {
			b.WriteString("... (" + strconv.Itoa(len(es)) + " entries)")
			break
		}
		b.WriteString(e.String())
	}
	return b.String()
}

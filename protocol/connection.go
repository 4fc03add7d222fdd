package protocol

// ConnectionLost is what a node's transport tells it when its connection to Peer broke (a reset by
// a middlebox, a NIC flap): whatever the node had sent to Peer since the connection broke, and
// whatever was still on the wire between them when it broke, is lost, and its next message to
// Peer goes over a new connection. A protocol that needs a message to arrive resends it when it
// receives this. It comes from the node's own transport, not from Peer: the simulator delivers it
// as sent by External (so that it is never taken for a message on the channel from Peer, which
// snapshot recording and the trace checkers would count), never loses it, never delays it by link
// latency and never drops it at a partition; Peer says which connection broke. It is delivered as
// a *ConnectionLost.
type ConnectionLost struct {
	Peer NodeID
}

// MsgConnectionLost is the Type of ConnectionLost.
const MsgConnectionLost = "connection-lost"

func (*ConnectionLost) Type() string { return MsgConnectionLost }

// TraceAttrs names the peer on the notice's send record (see sim.Describer).
func (m *ConnectionLost) TraceAttrs() []Attr { return []Attr{A("peer", m.Peer)} }

// Package kv is a partitioned, replicated key-value store whose new bucket copies are created by
// GemFire's state flush operation, written as deterministic protocol.Node state machines so that the
// simulator (package sim) can drive it, replay it and check it.
//
// # Operating manual
//
// A cluster is Config.Servers servers (node ids 0..Servers-1, named "s0", "s1", ...) followed by
// Config.Clients clients ("c0", ...). Build a Config with DefaultConfig, change what you study,
// and get a node factory:
//
//	cfg := kv.DefaultConfig()
//	cfg.SourceChoice = kv.PreferNonPrimary
//	cfg.Mutants = kv.NewMutants(kv.SkipFlush) // or kv.ParseMutants("skip-flush")
//	work := kv.DefaultWorkload()               // what the clients run
//	factory, err := kv.NewFactory(cfg, work)   // validates: redundancy above servers, zero buckets, ...
//	for id := 0; id < cfg.Servers+cfg.Clients; id++ {
//		nodes = append(nodes, sim.NodeSpec{Name: kv.NodeName(cfg, protocol.NodeID(id)),
//			Client: kv.IsClient(cfg, protocol.NodeID(id)), New: factory})
//	}
//
// Clients start their workload (the Workload given to NewFactory) on their own: one operation at a time, drawn from
// their own random stream (env.Rand()). Workload.OnlyKeys performs only the operations on the
// listed keys, skipping the others silently with every draw unchanged, so that a counterexample
// shrinks to the operations on its failing keys while every other random choice stays put.
// Operators act by injecting a message from protocol.External: a Rebalance{Bucket, Target} sent
// to any server (non-coordinators forward it) creates a copy of the bucket on the target and then
// removes one old copy.
//
// With Config.Locks enabled, every server also hosts its part of the lock service (protocol/dlock)
// as a membership.Component: it hears of every view the server installs and gets the service's
// messages and timers. The lock clients take the node ids after the store's clients
// (FirstLockClient, IsLockClient, names "l0", ...); whoever builds the cluster builds them with
// dlock.NewClient and their workload (NewFactory builds servers and store clients only).
//
// The failure detector's traffic is background traffic (background timers while nobody is
// overdue, and Heartbeat, Suspect, CheckRequest, CheckReply and Verdict are
// protocol.BackgroundMessages), so a heartbeat in flight never keeps a run from being quiescent, and
// a run can look quiescent right after a crash, before the
// failure detector could notice it. Run a simulation past the last fault plus a few
// Config.FailureDetectionTimeout (sim.RunUntil) before running it to quiescence (sim.Run).
//
// At the end of a run, inspect each live server (sim.Node(id).(*kv.Server)): Holdings lists every
// copy it holds (bucket, primary?, initialized?, entries sorted by key with version and tombstone,
// the event-id table), Drops counts the messages it dropped (unknown bucket, stale incarnation,
// sender no longer in the view, not yet joined, duplicate, invalid), Joined, Stopped (forced
// disconnect), CreatingCopies. Describe renders a server's state for people.
//
// Everything observable goes to the trace through Env.Emit with the names of protocol/events.go:
// op-invoke and op-return for every client operation (the attrs documented there; the checker builds
// porcupine histories from them), and for every phase of replica creation and membership
// (announce-sent, announce-complete, mitt-open, marker-sent, holder-stable, flush-complete,
// image-chunk-sent, image-chunk-applied, image-discarded, initialized, primary-change,
// redundancy-restored, view-change, data-lost, write-blocked) with attrs bucket, replica, source,
// holder. This package adds a few events of its own (EventCopyWaiting, EventForcedDisconnect,
// EventTakeover, EventPrimaryServing, EventRebalanceRejected, EventBucketDropped). Every message has
// a stable Type() name and TraceAttrs, so a trace reads like a conversation.
//
// # The store
//
// Keys map to Config.Buckets buckets by BucketOf (FNV-1a modulo the bucket count). Each bucket has
// Config.Redundancy copies: a primary and redundant copies. Operations are get, put, delete and
// append (appending to a missing key creates it); values are strings; a get of a missing or deleted
// key returns found=false. Clients write unique values, "c<client>-<seq>;" (client index, operation
// sequence number), so every value in a history names the write that produced it and appended
// texts stay readable when concatenated.
//
// Writes. A client sends an operation to the primary it believes in; a server that is not the
// primary redirects it. The primary counts a write in as in progress, chooses its recipients (every
// other holder it has a profile of, initialized or not) and, after Config.DistributionDelay, applies
// it with a new version (Version: the bucket's primary epoch, a counter, the writer; ordered
// lexicographically, so versions stay totally ordered across primary changes) and puts it on the
// wire in one step, and counts it out. (Epochs: a term's first opens at (term-1)<<20 + 1, so that a
// member taking over never reopens an epoch that a predecessor it never heard from opened; in
// term 1 they count from 1.) Applying atomically with the sends, not before, matters when
// the primary is also an image source: its image's event-id table could otherwise claim a write that
// dies with it before reaching any holder (writes.go explains). A write whose primary is fenced by a
// newer one before that moment is void: never applied, never sent, its client told to retry. The
// primary acknowledges the client only after every recipient has applied the write or left the
// view. A get at the primary waits for unacknowledged writes to its key, reads the value, and is
// answered once every other holder has confirmed that it still accepts this primary at this epoch
// (the read fence, reads.go): a primary cut off from its holders, by a partition or in one
// direction only, cannot know that a newer primary has been made and acknowledged writes, and the
// fence gives reads the guarantee that synchronous replication gives writes. Deletes leave versioned
// tombstones, kept forever.
//
// At most once. Every operation carries an event id (client, sequence number); a retry carries the
// same one. Each bucket keeps the latest applied sequence number per client (a client has one
// operation outstanding, so this suffices); the table travels with every replicated write, every
// image and every failover synchronization, so a retry is never applied twice, also when it reaches
// a new primary. A client that runs out of timeouts or redirects ends the operation with status
// unknown (a get, which never has an effect, or a write no attempt of which can have taken effect:
// status fail).
//
// Membership. Failure detection is GemFire's (membership.Detector, driven from detector.go): the
// view's members form a ring in age order, each member watches one neighbour, the next older one (the oldest watches the youngest),
// and sends one heartbeat per Config.HeartbeatInterval to the member watching it, so heartbeat
// traffic is linear in the members. A watcher that has not heard from its neighbour for
// Config.FailureDetectionTimeout suspects it and asks another member to check the suspect directly
// (a final check: the coordinator, or for a suspected coordinator the member that would succeed
// it, or, when that is the watcher itself, the suspect's next neighbour). The suspect is failed
// only if the checker gets no answer to its check request for one more timeout (a round trip: a
// member cut off in one direction still sends heartbeats but hears nothing); the checker then tells every
// member, so one slow link never removes a healthy member. A crashed member is removed about two
// timeouts after its last heartbeat (within 2·FailureDetectionTimeout + HeartbeatInterval plus
// four message delays); a watcher whose checker gives no verdict within two timeouts checks the
// suspect, and the silent checker, itself, so that two failures at once are still found. The
// coordinator (the oldest member) removes failed members and sends the new view to the others,
// who learn it at different times. If the coordinator fails, the oldest surviving member takes
// over once every older member is failed: it first asks every other member for its view and
// its copies (the old coordinator may have sent its last view to only some members) and rebuilds the
// bucket metadata from what members actually hold, under a new term. A member that learns it was
// removed (it was suspected, rightly or not) and holds a complete copy stops at once and stays
// silent: a forced disconnect; a restart brings it back empty, as a new member that asks to join.
// Members that have not learned of a restart yet address the previous incarnation: their messages
// still count as signs of life, and a newer view sent to the previous incarnation without the new
// one removes the new one too (its admission died with the coordinator that published it). A member
// that holds no complete copy has no state that could contradict the view, so when it is left out
// (told by a view, or hearing no other member) it leaves its view and asks to join again
// (EventRejoin), as GemFire's members reconnect, rather than disconnect or take over alone. Members
// answer a server that heartbeats, suspects or checks from a view they have left behind with the
// current view, since no member heartbeats a non-member. A server still joining answers the two
// requests that may reach it before the view admitting it does (a new primary's collect, a
// takeover's query) as holding nothing, so neither waits for it forever. The coordinator decides
// the bucket metadata (holders, primary, which copies are initialized) and distributes it with the
// views; clients learn it from redirects.
//
// Network partitions (partition.go). With Config.Partition.Rule WeightedQuorum (the default, as
// GemFire's network partition detection) every member has a weight, Config.Partition.MemberWeight
// (10), and the lead member, the oldest, LeadMemberBonus more (5); a coordinator, or a member
// taking over, about to publish a view that removes at least half of the previous view's weight at
// once shuts its side down instead: it tells the members it keeps (PartitionShutdown) and
// disconnects, so at most one side of a partition keeps serving; the others come back, restarted,
// when the partition heals. So that a coordinator cut off from most of the cluster counts its
// losses together, it checks every other member before any removal (GemFire's view preparation)
// and removes those that do not answer in the same change, checking the others again when the
// round finds failed a member heard from shortly before it began (the cut that silenced it may
// have come after the others answered; at most twice per round, since in a large cluster something
// fails during every round, and later failures go into the next change); a suspect another member
// found failed is checked again,
// by the coordinator or by a takeover's query, since a checker cut off one way finds live members
// failed (and a member about to take over checks, itself, an older member it holds failed only on
// such a verdict); and a member that answered a newer term's takeover refuses older terms' views
// while that takeover may still complete, unless the member taking over gives it up and says so.
// NoQuorum keeps the behaviour of a cluster
// without the rule, for study: each side of a long partition goes on serving (split brain). Clients
// of a side that shut down time out and retry elsewhere.
//
// Connection loss (connections.go). A broken connection between two members (protocol.ConnectionLost)
// loses what was on it, so the two would disagree about what the other has: the older end has the
// younger removed (EvictRequest to the coordinator, repeated until a view carries it out; an end
// whose view still lists a dead earlier incarnation of the other counts the new one, which it has
// heard from, as the younger), and until
// then neither takes the other's bucket messages (what comes over the new connection may follow a
// gap). A peer that restarted and asked to join is the younger end, also while this member's view
// still lists its previous incarnation.
//
// Failover. When a primary leaves, the coordinator makes an initialized copy primary under a new
// epoch. Before it serves, the new primary fences every holder at the new epoch (from then on a
// holder rejects writes of older primaries, whose in-flight writes therefore cannot slip in later),
// collects every initialized holder's entries and event-id table, keeps per key the highest
// version, and pushes the result to every holder as one replicated write. A write the old primary
// sent to only some holders is then everywhere or nowhere, and after quiescence every holder holds
// identical entries. A copy still being created contributes nothing (its partial image lacks the
// event ids of its entries, which come with the last chunk: merged, they would let a retry apply a
// write twice); fenced at a new epoch, it starts its creation over (its mitt could hold writes of
// the old primary that the synchronization did not see).
//
// Redundancy recovery. When a bucket has fewer copies than Config.Redundancy, the coordinator places
// a new copy on the live member holding the fewest copies (then the lowest id); a bucket has at most
// one copy under creation at a time. A rebalance adds its target and, once the target is
// initialized, removes the old copy on the member holding the most copies (then the highest id),
// never going below the redundancy; if that copy was primary, the target becomes primary first (in
// the same view, under a new epoch). When no initialized copy of a bucket is left, the coordinator
// emits data-lost; the bucket's operations fail from then on. Nothing papers over a loss.
//
// Reads go to the primary. Config.ReadFromAnyCopy lets clients read from any initialized copy, which
// is not linearizable in general (a copy may lag the primary by the writes being replicated); it is an
// option to study, off by default.
//
// # Creating a copy: the state flush operation
//
// The new copy R, once a view lists it as an uninitialized holder:
//
//  1. opens its catcher's mitt: from now on it applies every replicated write sent to it (an update
//     of a key it does not have creates it; a delete leaves a tombstone; versions are kept);
//  2. announces its profile to every holder and waits for every reply. A holder installs the
//     profile: every write it starts from then on includes R among its recipients, and the writes it
//     has in progress at that moment become R's "started before" writes (count in before choosing
//     recipients, count out once every message is on the wire);
//  3. chooses an initialized source S (Config.SourceChoice: the primary, or a non-primary copy; the
//     protocol is correct for any) and sends a state marker naming S to every holder;
//  4. each holder M other than S waits until its "started before R" writes are all on the wire,
//     then sends S a flush record: how many content-changing messages it has put on its channel to
//     S, travelling behind them on the same FIFO channel. S, on the record, waits until it has
//     applied (not merely received) that many messages from M, then reports M stable to R. S answers
//     for itself once its own started-before writes are out and it refuses the messages of every
//     holder that R's view (named by the marker) no longer lists. R's observer completes when every
//     holder is accounted for: reported stable, or gone from the view (and S has answered a marker
//     of a view without it);
//  5. requests the image. S streams its live map in key order (Config.ChunkEntries per chunk, one
//     chunk every Config.ImageChunkDelay), not a frozen snapshot: later chunks reflect writes applied
//     meanwhile. Entries carry versions, tombstones included; the last chunk carries the event-id
//     table. R applies each chunk (Config.ChunkApplyDelay) never overwriting a newer mitt entry;
//  6. marks itself initialized only after the last chunk is applied, and announces that to the
//     holders and the coordinator. Only then does it serve reads, count toward redundancy, or qualify
//     as primary or source.
//
// Failures during a copy: if S leaves before the last chunk has arrived, R discards the partial image
// and its mitt and starts a fresh flush aimed at another initialized copy; with none left, R tells the
// coordinator, which declares the data lost. A holder that leaves counts as flushed. If R leaves, the
// holders drop its profile and recovery creates the copy elsewhere. No timeout ever lets a copy
// proceed unflushed: after Config.CopyWarnAfter a waiting copy emits copy-waiting (and again every
// period) and keeps waiting.
//
// Strategies and mutants. Config.Strategy selects StateFlush (the above), Blocking (the baseline:
// the primary answers the announce only once no write is being replicated, and holds every new write
// to the bucket, emitting write-blocked, until the copy is initialized; no flush) or Naive (announce,
// then copy the image without the flush: incorrect on purpose). Config.Mutants switches on any of the
// named bugs (MutantNames lists them): first the twelve of the reference description, which break
// the flush or its announce, mitt, image and initialization steps, then one or more per other safety
// mechanism of the store, which remove or weaken it where it acts (Mutant.Mechanism names it):
// synchronous acknowledgement (ack-before-replicas), event-id dedupe in writes, images and failover
// (no-dedupe-writes, no-dedupe-image, no-dedupe-failover), epoch fencing (no-epoch-fence), the
// failover merge (merge-keeps-own), initialized-only promotion and serving (promote-uninitialized,
// serve-uninitialized), tombstones and their versions (no-tombstones, tombstone-old-version) and
// redundancy recovery's choice of members (recovery-picks-departed) and the quarantine of a server
// back from a pause longer than failure detection (ignore-lapse; lapse.go), the partition rule
// (takeover-skips-quorum: a member taking over does not apply it), the read fence (local-reads:
// the primary answers gets from its own copy) and the handling of a broken connection
// (ignore-connection-loss: neither end refuses the other's messages nor has an end removed). Each
// changes only its own behaviour.
//
// # What the protocol guarantees, and under which assumptions
//
// Assumptions: channels between servers are reliable and FIFO while both ends live (as in Chandy and
// Lamport's snapshot algorithm; duplicated deliveries are tolerated: replicated writes carry
// per-channel sequence numbers), and each server processes a sender's messages in order; message
// delays are shorter than Config.FailureDetectionTimeout minus Config.HeartbeatInterval. Servers fail
// as processes and machines do: a process crash (what it sent still arrives), a host crash (what it
// had in flight is lost too), a crash part-way through a step (a write, a flush or a view reaches some
// of its recipients and not the others), or a pause of any length after which the process goes on
// (a long garbage collection); a restarted server is a new, empty member. A write cut short by its
// primary's crash is settled by the next primary's failover merge: everywhere or nowhere. A server
// that was silent past the point where the others could have removed it lapses (lapse.go): it stays
// out of service until any removal has reached it, and one that learns it was removed (forced
// disconnect) stops; a service manager restarts it as a new member. A member the others still hold
// failed after it resumed is told otherwise by the checker that found it failed. The store does not
// rely on a write's messages leaving together: a crash inside a step or a broken connection can
// cut them, and a retried flush waits for the writes in progress as Geode's flushNewOps does
// (spec/README.md). Partitions between servers of any length, both ways or one way, are within the
// model: TCP holds what crosses a partition until it heals (sim.Split), and the weighted partition
// rule keeps at most one side serving (testdata/scripts/partition-rule*.txt); with Partition.Rule
// NoQuorum the isolated side takes over a view of its own and serves from it (split brain,
// testdata/scripts/forced-disconnect.txt). A broken connection (what it carried is lost) removes its
// younger end. Beyond what the store survives by design: a partition or a run of faults that leaves
// no side with more than half of the weight, or no side with a complete copy of a bucket (the
// cluster, or that bucket, is lost; there is no persistence).
//
// Under these assumptions: every acknowledged write survives as long as one initialized copy of its
// bucket does, and client operations are linearizable per key (with reads at the primary); a write is
// applied at most once, retries included; every copy creation that starts either completes or ends
// because its member left or the data was lost (reported by data-lost); after quiescence every holder
// of a bucket holds identical entries, tombstones and event ids included, with exactly one primary,
// and each bucket that is not lost has Config.Redundancy copies when that many members live. The
// tests check these properties over hundreds of random schedules with crashes
// (TestRandomCrashesConverge), and show each mutant breaking them on its reference interleaving
// (TestMutant*).
//
// # Tests
//
// testdata/scripts holds hand-written schedules run by TestScripts with a small scripted environment
// (deliver this message, fire that timer, crash that server); `go test ./protocol/kv -run TestScripts
// -update` rewrites their expected output. STATEFLUSH_LONG=1 raises the random test from 500 to 5000
// seeds; STATEFLUSH_SEED=n replays one seed of it with every protocol event printed
// (TestReplaySeed).
//
// # Extending
//
// Server.dispatch is the one switch where message types meet their handlers; a later component (for
// instance Chandy–Lamport snapshots, which record each server's state and send markers on every
// outgoing channel) adds its message cases there and its state to Server. Servers send to each other
// only through Server.send, which is where a component that must see every outgoing message hooks in.
package kv

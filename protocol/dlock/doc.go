// Package dlock is a distributed lock service in the manner of GemFire's: named locks, one member
// of the cluster acting as the grantor that grants and releases them, and grantor fail-over with
// recovery. It runs on the members of a cluster whose membership another component maintains
// (protocol/kv today), through the small interface of package membership: each member's Service
// is told every view it installs and handles the lock service's messages.
//
// # Roles
//
// Lock clients (Client, nodes of their own that the chaos monkey never kills) hold the locks: a
// client asks the grantor for lock(name) and gets a fencing token, holds the lock, and releases it
// with unlock(name, token). Clients are the lock service's participants in GemFire's sense (the
// members that use the service); the servers host the grantor.
//
// The grantor is placed by the elder's rule, read by every member from the same view: the
// second-oldest member of the view (the elder itself when it is alone), so that losing the elder
// and losing the grantor are different events. Each view a member installs as grantor starts a new
// grantor epoch, named by the view's version: a grantor's authority lasts one view. A member that
// installs a view in which it is not the grantor stops granting at once.
//
// # Recovery
//
// A grantor that starts an epoch knows nothing: the lock table lives with the previous grantor,
// which may be dead. It asks every participant (every lock client of the configuration, whether
// or not it has heard from them) which locks it holds and which request it has pending, and
// grants nothing until every participant has answered: then it knows every hold (of two reports
// for one name, the greater token is the newer hold and the other has ended), and a lock that no
// one reports is free. Each participant also says which operation it invoked last, so that copies
// of requests answered before the epoch, still in flight, are not taken for new ones. A participant that answers an epoch's recovery records that epoch and
// from then on refuses grants of older epochs (a grant the old grantor sent before it learned it
// was replaced), and retargets its pending request to the new grantor. Requests that reach a
// grantor during recovery wait for it.
//
// # Leases
//
// A lock may carry a lease (Config.LeaseMin..LeaseMax), counted from its holder's call: the holder
// relies on the lock until its call plus the lease, and the grantor releases the hold once the
// lease has run out since it granted it, which is later. A recovered hold runs out at the call plus
// the lease its holder reports. An unlock after its hold's lease ran out is refused; an unlock of a
// hold that an earlier grantor ended (by that unlock, whose answer was lost, or by its lease) gets
// an unknown answer, since this grantor cannot tell which. Without a lease a lock is held until
// unlocked.
//
// # Tokens
//
// A token is the epoch's number (the view's term and sequence) followed by a counter within the
// epoch, so tokens grow across grantors and a holder from before a fail-over is told apart by its
// smaller token.
//
// # Mutants
//
// Mutants (Mutant, off by default) are plausible bugs of the service, for measuring the checks:
// see mutants.go.
package dlock

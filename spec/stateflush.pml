/*
 * The state flush operation: creating a new replica of a bucket without blocking writes (protocol.md).
 *
 * Members
 *   P0  the primary, origin of every write (a put or a delete of one of NKEYS keys); never the source,
 *       so its writes to the source can be in flight when the copy starts.
 *   S1  an initialized holder, the image source.
 *   S2  (RETRY only) a second initialized holder, the source of the retry when S1 dies.
 *   RQ  the requester, creating the new replica.
 *
 * Channels: one buffered FIFO channel per directed link that carries anything, each sized for every
 * message that is ever sent on it (so a full channel never blocks a sender), each with one reader (xr)
 * and one writer (xs). All state is local to the processes; there are no global variables, so
 * partial-order reduction applies to every step.
 *
 * Protocol steps (protocol.md numbering) and where they are:
 *   1 announce  Requester sends ANNOUNCE to every holder and awaits every ANNOUNCE_ACK. Primary installs
 *               the profile and marks its write in progress, if any, as started before RQ.
 *   2 mitt      Requester applies every WRITE it receives from its start, keeping versions and
 *               tombstones, and applies a write only if it is newer than its entry.
 *   3 source    S1; after S1 dies, S2.
 *   4 flush     Requester sends MARKER(source) to every live holder. The primary waits until its
 *               started-before write is on the wire and sends RECORD(messages sent to the source)
 *               behind it; the source waits until it has applied that many from the primary and sends
 *               STABLE(P0). The source answers for itself. Another holder (S2) originates no writes, so
 *               its record would be 0, which the source answers at once: S2 answers for itself
 *               directly instead. STABLE names the source of its flush, so that answers to an abandoned
 *               flush are told apart.
 *   5 image     Requester sends REQUEST. The source scans its live map in key order, one CHUNK per key
 *               (an absent key as version 0), applying writes between chunks as they come. Requester
 *               applies an image entry only if it is newer than its own entry.
 *   6 complete  When the last chunk is applied the requester is initialized.
 *   failure     S1 may die at any moment (RETRY); the membership service tells the requester
 *               (DEPARTED). Before initialization the requester discards the mitt and the partial image
 *               and runs a fresh flush aimed at S2 that also waits for writes started after the
 *               announce (flushNewOps), then copies from S2.
 *
 * Interleavings modelled: a write runs in steps at the primary: count in, apply locally and choose
 * recipients (one step); put it on each recipient's channel (one step per recipient: RQ first, then
 * the holders); count out. The primary handles messages between those steps, as its message threads would, so a
 * write whose recipients were chosen before the announce can still be unsent when the marker comes. A
 * holder hands a received write to a one-slot apply stage and may handle other messages before it
 * applies it; the requester queues received chunks and applies them later, in order.
 *
 * Properties. After its last write the primary sends the requester TRUTH(key, what a read of the key
 * returns, newest version of the key written without the requester among its recipients): the
 * checker's knowledge, not a protocol message. The requester remembers its entry versions at the moment
 * it is initialized. When it is initialized and has every TRUTH (so every write sent to it has been
 * handled, FIFO), it asserts for every key:
 *   complete image   the entry it had at initialization was at least as new as every write it was not
 *                    sent: those only the image could bring;
 *   convergence      a read returns what a read at the primary returns (0 for absent or deleted, else
 *                    the version, which names the value): no acknowledged write missing, no deleted
 *                    key resurrected. (Holders receive every write in order, so they agree with the
 *                    primary.)
 * Termination: the requester's loop has no end label, so a run in which it stops before those checks
 * is an invalid end state; every run is finite (bounded writes, at most one retry).
 *
 * Mutants, compiled with -D (protocol.md numbers): SKIP_FLUSH (1), NO_WAIT_IN_PROGRESS (2),
 * OBSERVER_EARLY (3), COUNT_ON_RECEIPT (4), FLUSH_NOT_BOUND_TO_SOURCE (5, RETRY), LATE_ANNOUNCE (6),
 * NO_MITT (7), IMAGE_OVERWRITES_MITT (8), MITT_IGNORES_DELETES (9), PREMATURE_COMPLETION (10),
 * WRONG_VERSION_ORDER (11), PARTIAL_IMAGE_ACCEPTED (12, RETRY); and RETRY_WITHOUT_FLUSH_NEW_OPS (RETRY):
 * the retry's flush waits only for writes started before the announce, as in a flush without a retry.
 *
 * ATOMIC_DISTRIBUTION puts all of a write's messages on the wire in one step (as protocol/kv does)
 * instead of one recipient at a time. It is not a bug: with it, RETRY_WITHOUT_FLUSH_NEW_OPS holds.
 */

#ifndef NWRITES
#define NWRITES 2
#endif
#define NKEYS 2

/* Member ids, also bit positions in member sets. */
#define P0 0
#define S1 1
#define S2 2
#define RQ 3
#define BIT(m) (1 << (m))

#ifdef RETRY
#define HOLDERS (BIT(P0) | BIT(S1) | BIT(S2))
#else
#define HOLDERS (BIT(P0) | BIT(S1))
#endif

/* Requester phases. */
#define ANNOUNCING 0
#define FLUSHING 1
#define COPYING 2
#define INITIALIZED 3

/*
 * Witnesses: WITNESS_POINT(n, condition) fails an assertion when the model is compiled with -DWITNESS=n
 * and the condition holds there. Each witness is a check that expects a violation, which shows that
 * the situation it names is reachable, so that the properties do not hold only because it never
 * happens. Without -DWITNESS the points vanish.
 *   1 the primary installs RQ's profile while a write is being distributed
 *   2 a marker reaches the primary while a write started before RQ is not all on the wire
 *   3 the source receives a record before it has applied every write the record counts
 *   4 the mitt's entry is newer than an image entry, which is skipped
 *   5 an image entry that is a tombstone is applied
 *   6 (RETRY) the requester discards a partial image after S1 died during the copy
 *   7 (RETRY) a retry's marker waits for a write that started after the announce
 *   8 (RETRY) the requester is initialized after a retry
 */
#ifdef WITNESS
#define WITNESS_POINT(n, condition) assert(!(WITNESS == n && (condition)));
#else
#define WITNESS_POINT(n, condition)
#endif

mtype = { WRITE, RECORD, ANNOUNCE, ANNOUNCE_ACK, MARKER, STABLE, REQUEST, CHUNK, DEPARTED, TRUTH };

/*
 * Every message is (kind, a, b, c):
 *   WRITE(key, version, deleted)    RECORD(count)              ANNOUNCE            ANNOUNCE_ACK(member)
 *   MARKER(source, flushNewOps)     STABLE(member, source)     REQUEST             CHUNK(key, version, deleted)
 *   DEPARTED(member)                TRUTH(key, visible version, newest version not sent to RQ)
 */
#define MSG { mtype, byte, byte, byte }
chan p0ToS1 = [NWRITES + 1] of MSG;         /* writes; a record */
chan p0ToRq = [NWRITES + 1 + NKEYS] of MSG; /* writes after the announce; announce ack; truths */
chan rqToP0 = [3] of MSG;                   /* announce; a marker per flush */
chan rqToS1 = [3] of MSG;                   /* announce; marker; request */
chan s1ToRq = [5] of MSG;                   /* announce ack; 2 stable; 2 chunks */
#ifdef RETRY
chan p0ToS2 = [NWRITES + 1] of MSG;         /* writes; the retry's record */
chan rqToS2 = [4] of MSG;                   /* announce; 2 markers; request */
chan s2ToRq = [6] of MSG;                   /* announce ack; 3 stable (one for S1's flush); 2 chunks */
chan s1DownToRq = [1] of MSG;               /* the membership service reports S1's death */
chan s2DownToRq = [1] of MSG;               /* never used: S2 does not die */
#else
/* So that one Holder proctype serves both configurations; nothing is ever sent on it. */
chan noDown = [1] of MSG;
#endif

/* ---------------------------------------------------------------------------------------------------
 * Primary: originates every write, takes part in announce and flush.
 */
proctype Primary() {
    xr rqToP0;
    xs p0ToS1; xs p0ToRq;
#ifdef RETRY
    xs p0ToS2;
#endif
    byte ver[NKEYS];         /* entry versions; 0 means absent */
    bit deleted[NKEYS];      /* the entry is a tombstone */
    byte notSentToRq[NKEYS]; /* for the check: newest version written without RQ among recipients */
    byte writesLeft = NWRITES;
    bool distributing;       /* a write is counted in and not yet counted out */
    byte key;                /* the key of that write: its version and deletion are ver[key], deleted[key] */
    byte unsent;             /* its recipients whose channel does not carry it yet */
    bool startedBeforeRq;    /* it started before RQ's profile was installed */
    bool rqInstalled;        /* RQ's profile is installed */
    byte sentToS1, sentToS2; /* content-changing messages put on the channel to each holder */
    byte markers;            /* sources named by a marker whose record is not sent yet */
    byte markersWaiting;     /* those whose record waits for the write in progress to be on the wire */
    byte source, flushNewOps;
    byte k;

end:
    do
    :: writesLeft > 0 && !distributing ->
        /* Count in, apply locally, choose recipients: one step. */
        atomic {
            if
            :: key = 0
            :: key = 1
            fi;
            if
            :: deleted[key] = 0
            :: deleted[key] = 1
            fi;
            ver[key]++;
            writesLeft--;
            distributing = true;
            startedBeforeRq = !rqInstalled;
#ifdef RETRY
            unsent = BIT(S1) | BIT(S2);
#else
            unsent = BIT(S1);
#endif
            if
            :: rqInstalled -> unsent = unsent | BIT(RQ)
            :: else -> notSentToRq[key] = ver[key]
            fi
        }
#ifdef ATOMIC_DISTRIBUTION
    /* Every message of the write goes on the wire in one step. */
    :: distributing && unsent != 0 ->
        atomic {
            if
            :: unsent & BIT(RQ) -> p0ToRq!WRITE(key, ver[key], deleted[key])
            :: else
            fi;
            p0ToS1!WRITE(key, ver[key], deleted[key]);
            sentToS1++;
#ifdef RETRY
            p0ToS2!WRITE(key, ver[key], deleted[key]);
            sentToS2++;
#endif
            unsent = 0
        }
#else
    /* Sends go out in a fixed order, RQ first, then the holders by id. Putting the holders last is the
     * adversarial order for the flush (counts and count-out wait longest for them), and nothing but RQ
     * itself observes when the copy to RQ is sent: its receipt can be delayed at will. */
    :: distributing && (unsent & BIT(RQ)) ->
        p0ToRq!WRITE(key, ver[key], deleted[key]);
        unsent = unsent & ~BIT(RQ)
    :: distributing && unsent & BIT(S1) && !(unsent & BIT(RQ)) ->
        p0ToS1!WRITE(key, ver[key], deleted[key]);
        sentToS1++;
        unsent = unsent & ~BIT(S1)
#ifdef RETRY
    :: distributing && unsent == BIT(S2) ->
        p0ToS2!WRITE(key, ver[key], deleted[key]);
        sentToS2++;
        unsent = 0
#endif
#endif
    :: distributing && unsent == 0 ->
        /* Count out: every message of the write is on the wire. */
        distributing = false;
        startedBeforeRq = false;
        markersWaiting = 0;
        key = 0;
        if
        :: writesLeft == 0 ->
            /* The last write: tell the checker the truth, behind every write sent to RQ. */
            k = 0;
            do
            :: k < NKEYS ->
                p0ToRq!TRUTH(k, (deleted[k] -> 0 : ver[k]), notSentToRq[k]);
                k++
            :: else -> break
            od;
            k = 0
        :: else
        fi
    :: rqToP0?ANNOUNCE(_, _, _) ->
        /* Install the profile; the write in progress, if any, started before RQ. */
        WITNESS_POINT(1, distributing)
        rqInstalled = true;
        startedBeforeRq = distributing;
        p0ToRq!ANNOUNCE_ACK(P0, 0, 0)
    :: rqToP0?MARKER(source, flushNewOps, _) ->
        /* Writes to wait for: the one started before RQ's profile was installed; with flushNewOps (a
         * retry's flush) any write in progress now. At most one write is in progress here. */
        WITNESS_POINT(2, startedBeforeRq)
        WITNESS_POINT(7, flushNewOps && distributing && !startedBeforeRq)
        markers = markers | BIT(source);
        if
        :: startedBeforeRq || (flushNewOps && distributing) ->
            markersWaiting = markersWaiting | BIT(source)
        :: else
        fi;
        source = 0;
        flushNewOps = 0
    /* Record the count sent to the source, behind those writes on the same channel. */
#ifdef NO_WAIT_IN_PROGRESS
    :: markers & BIT(S1) ->
#else
    :: (markers & BIT(S1)) && !(markersWaiting & BIT(S1)) ->
#endif
        p0ToS1!RECORD(sentToS1, 0, 0);
        markers = markers & ~BIT(S1)
#ifdef RETRY
#ifdef NO_WAIT_IN_PROGRESS
    :: markers & BIT(S2) ->
#else
    :: (markers & BIT(S2)) && !(markersWaiting & BIT(S2)) ->
#endif
        p0ToS2!RECORD(sentToS2, 0, 0);
        markers = markers & ~BIT(S2)
#endif
    od
}

/* ---------------------------------------------------------------------------------------------------
 * Holder: an initialized copy (S1, S2). It applies the primary's writes, answers announce and flush,
 * and serves the image when it is the source. It originates no writes, so its own record is always 0
 * and it never waits before answering a marker.
 */
proctype Holder(byte self; bit mayDie; chan fromP0, fromRq, toRq, down) {
    xr fromP0; xr fromRq; xs toRq; xs down;
    byte ver[NKEYS];
    bit deleted[NKEYS];
    bool applyPending;       /* a received write waits in the apply stage */
    byte key, version, del;  /* that write */
    byte appliedFromP0;      /* writes from the primary applied; one more is received if applyPending */
    bool recordPending;      /* a record from the primary waits for its writes to be applied */
    byte recordCount;
    byte scanKey = NKEYS;    /* next key the image scan sends; NKEYS when not scanning */
    byte source;

end:
    do
    :: fromP0?[WRITE] && !applyPending ->
        fromP0?WRITE(key, version, del);
        applyPending = true
    :: applyPending ->
        ver[key] = version;
        deleted[key] = del;
        appliedFromP0++;
        applyPending = false;
        key = 0; version = 0; del = 0
    :: fromP0?RECORD(recordCount, _, _) ->
        WITNESS_POINT(3, appliedFromP0 < recordCount)
        recordPending = true
#ifdef COUNT_ON_RECEIPT
    :: recordPending && appliedFromP0 + applyPending >= recordCount ->
#else
    :: recordPending && appliedFromP0 >= recordCount ->
#endif
        toRq!STABLE(P0, self, 0);
        recordPending = false;
        recordCount = 0
    :: fromRq?ANNOUNCE(_, _, _) ->
        toRq!ANNOUNCE_ACK(self, 0, 0)
    :: fromRq?MARKER(source, _, _) ->
        if
        :: source == self -> toRq!STABLE(self, self, 0)
        :: else ->
            /* Its record to the source would be 0, which the source has always applied: the source
             * would answer for it at once. Answering directly leaves out only that relay. */
            toRq!STABLE(self, source, 0)
        fi;
        source = 0
    :: fromRq?REQUEST(_, _, _) ->
        scanKey = 0
    :: scanKey < NKEYS ->
        /* The live map, entry by entry: writes may be applied between chunks. */
        toRq!CHUNK(scanKey, ver[scanKey], deleted[scanKey]);
        scanKey++
    :: mayDie ->
        down!DEPARTED(self, 0, 0);
        /* Dead: the state is gone, and whatever still arrives is lost. */
        d_step {
            ver[0] = 0; ver[1] = 0; deleted[0] = 0; deleted[1] = 0;
            applyPending = false; key = 0; version = 0; del = 0;
            appliedFromP0 = 0; recordPending = false; recordCount = 0; scanKey = NKEYS; source = 0
        };
        break
    od;
end_dead:
    do
    :: fromP0?_, _, _, _
    :: fromRq?_, _, _, _
    od
}

/* ---------------------------------------------------------------------------------------------------
 * Requester.
 */

/* The version a mitt entry counts as when compared with an image entry. */
#ifdef WRONG_VERSION_ORDER
#define CURRENT(k) (deleted[k] -> 0 : ver[k])
#else
#define CURRENT(k) (ver[k])
#endif

inline sendAnnounce() {
    rqToP0!ANNOUNCE(0, 0, 0);
    rqToS1!ANNOUNCE(0, 0, 0);
#ifdef RETRY
    rqToS2!ANNOUNCE(0, 0, 0);
#endif
    awaited = HOLDERS
}

/*
 * Send a marker naming the source to every live holder and await every one's stabilization. A retry's
 * marker asks members to flush new writes too: the discarded mitt may have held a write started after
 * the announce that is not yet on the wire to the new source.
 */
#ifdef RETRY_WITHOUT_FLUSH_NEW_OPS
#define FLUSH_NEW_OPS 0
#else
#define FLUSH_NEW_OPS retrying
#endif
inline startFlush() {
    phase = FLUSHING;
    awaited = HOLDERS;
    rqToP0!MARKER(source, FLUSH_NEW_OPS, 0);
    if
    :: !s1Departed -> rqToS1!MARKER(source, FLUSH_NEW_OPS, 0)
    :: else -> awaited = awaited & ~BIT(S1)
    fi;
#ifdef RETRY
    rqToS2!MARKER(source, FLUSH_NEW_OPS, 0);
#endif
}

inline requestImage() {
    phase = COPYING;
    chunksExpected = NKEYS;
    if
    :: source == S1 -> rqToS1!REQUEST(0, 0, 0)
#ifdef RETRY
    :: source == S2 -> rqToS2!REQUEST(0, 0, 0)
#endif
    fi;
#ifdef LATE_ANNOUNCE
    sendAnnounce()
#endif
}

inline initialize() {
    WITNESS_POINT(8, retrying)
    phase = INITIALIZED;
    k = 0;
    do
    :: k < NKEYS ->
        verAtInit[k] = ver[k];
        k++
    :: else -> break
    od;
    k = 0
}

/* Drop the mitt and the partial image: the retry starts from an empty copy. */
inline discardCopy() {
    k = 0;
    do
    :: k < NKEYS ->
        ver[k] = 0;
        deleted[k] = 0;
        chunkVer[k] = 0;
        chunkDeleted[k] = 0;
        k++
    :: else -> break
    od;
    k = 0;
    chunksReceived = 0;
    chunksApplied = 0
}

/* A message (kind, a, b, c) from holder `from`. */
inline handleHolderMessage(from) {
    if
    :: kind == ANNOUNCE_ACK && phase == ANNOUNCING ->
        awaited = awaited & ~BIT(a)
    :: kind == STABLE && phase == FLUSHING && b == source ->
        awaited = awaited & ~BIT(a)
    :: kind == CHUNK && phase == COPYING && from == source ->
        chunkVer[a] = b;
        chunkDeleted[a] = c;
        chunksReceived++;
#ifdef PREMATURE_COMPLETION
        if
        :: chunksReceived == chunksExpected -> initialize()
        :: else
        fi
#endif
    :: else -> skip /* a late announce ack, or a reply to an abandoned flush or copy */
    fi
}

/* Received fields are dead once handled; zeroing them keeps otherwise equal states equal. */
#define CLEAR_SCRATCH kind = 0; a = 0; b = 0; c = 0

proctype Requester() {
    xr p0ToRq; xr s1ToRq; xs rqToP0; xs rqToS1;
#ifdef RETRY
    xr s2ToRq; xs rqToS2; xr s1DownToRq;
#endif
    byte ver[NKEYS];
    bit deleted[NKEYS];
    byte phase = ANNOUNCING;
    byte source = S1;
    byte awaited;                /* members whose announce ack or stabilization is still awaited */
    byte chunkVer[NKEYS];        /* received chunks, by key (one key per chunk) */
    bit chunkDeleted[NKEYS];
    byte chunksReceived, chunksApplied, chunksExpected;
    bool s1Departed;             /* S1's death has been reported */
    bit retrying;                /* the copy was discarded: this flush must also flush new writes */
    byte verAtInit[NKEYS];       /* for the check: entry versions at initialization */
    byte truthVisible[NKEYS], truthNotSent[NKEYS];
    byte truths;                 /* TRUTH messages received */
    mtype kind;
    byte a, b, c, k;

    /* The mitt is open from here on: every write received below is applied. */
#ifdef LATE_ANNOUNCE
    startFlush();
#else
    sendAnnounce();
#endif

    /* No end label: a run that stops before the requester leaves this loop is an invalid end state. */
    do
    :: p0ToRq?WRITE(a, b, c) ->
        if
#ifdef NO_MITT
        :: phase != INITIALIZED -> skip
#endif
#ifdef MITT_IGNORES_DELETES
        :: phase != INITIALIZED && c ->
            /* The entry goes away without a tombstone. */
            ver[a] = 0;
            deleted[a] = 0
#endif
        :: else ->
            if
            :: b > ver[a] -> ver[a] = b; deleted[a] = c
            :: else
            fi
        fi;
        CLEAR_SCRATCH
    :: p0ToRq?ANNOUNCE_ACK(a, _, _) ->
        if
        :: phase == ANNOUNCING -> awaited = awaited & ~BIT(a)
        :: else
        fi;
        CLEAR_SCRATCH
    :: p0ToRq?TRUTH(a, b, c) ->
        truthVisible[a] = b;
        truthNotSent[a] = c;
        truths++;
        CLEAR_SCRATCH
    :: s1ToRq?kind, a, b, c ->
        if
        :: s1Departed -> skip /* S1 has departed: drop what it sent */
        :: else -> handleHolderMessage(S1)
        fi;
        CLEAR_SCRATCH
#ifdef RETRY
    :: s2ToRq?kind, a, b, c ->
        handleHolderMessage(S2);
        CLEAR_SCRATCH
    :: s1DownToRq?DEPARTED(_, _, _) ->
        s1Departed = true;
        if
        :: phase == ANNOUNCING ->
            awaited = awaited & ~BIT(S1);
            source = S2
        :: phase == FLUSHING ->
            discardCopy();
            source = S2;
            retrying = 1;
            startFlush()
        :: phase == COPYING ->
#ifdef PARTIAL_IMAGE_ACCEPTED
            /* Keep the chunks received so far and initialize once they are applied. */
            chunksExpected = chunksReceived;
            if
            :: chunksApplied == chunksExpected -> initialize()
            :: else
            fi
#else
#ifdef FLUSH_NOT_BOUND_TO_SOURCE
            /* Reuse the flush aimed at S1. */
            discardCopy();
            source = S2;
            requestImage()
#else
            WITNESS_POINT(6, chunksReceived > 0)
            discardCopy();
            source = S2;
            retrying = 1;
            startFlush()
#endif
#endif
        :: phase == INITIALIZED -> skip
        fi
#endif
    :: phase == ANNOUNCING && awaited == 0 ->
#ifdef SKIP_FLUSH
        requestImage()
#else
        startFlush()
#endif
#ifdef OBSERVER_EARLY
    :: phase == FLUSHING && !(awaited & BIT(source)) -> /* the source's own answer is enough */
#else
    :: phase == FLUSHING && awaited == 0 ->
#endif
        requestImage()
    :: chunksApplied < chunksReceived ->
        k = chunksApplied;
        if
        :: chunkVer[k] == 0 -> skip /* the source has no entry for the key */
#ifdef IMAGE_OVERWRITES_MITT
        :: else -> ver[k] = chunkVer[k]; deleted[k] = chunkDeleted[k]
#else
        :: chunkVer[k] > CURRENT(k) ->
            WITNESS_POINT(5, chunkDeleted[k])
            ver[k] = chunkVer[k];
            deleted[k] = chunkDeleted[k]
        :: else ->
            /* The mitt's entry is newer. */
            WITNESS_POINT(4, true)
            skip
#endif
        fi;
        chunkVer[k] = 0;
        chunkDeleted[k] = 0;
        k = 0;
        chunksApplied++;
        if
        :: phase == COPYING && chunksApplied == chunksExpected -> initialize()
        :: else
        fi
    :: phase == INITIALIZED && truths == NKEYS -> break
    od;

    k = 0;
    do
    :: k < NKEYS ->
        assert(verAtInit[k] >= truthNotSent[k]);                  /* complete image */
        assert((deleted[k] -> 0 : ver[k]) == truthVisible[k]);     /* convergence */
        k++
    :: else -> break
    od
}

init {
    atomic {
        run Primary();
#ifdef RETRY
        run Holder(S1, 1, p0ToS1, rqToS1, s1ToRq, s1DownToRq);
        run Holder(S2, 0, p0ToS2, rqToS2, s2ToRq, s2DownToRq);
#else
        run Holder(S1, 0, p0ToS1, rqToS1, s1ToRq, noDown);
#endif
        run Requester()
    }
}

/*
 * Grantor fail-over of a distributed lock service (GemFire's DLock grantor recovery), one lock.
 *
 * Members 0, 1 and 2; member 0 is the elder and the first grantor (epoch 1). Each member runs a
 * client that takes the lock NREQ times (request, hold, release) by messages to the grantor it
 * knows. Member 0 may crash at any moment (everything it runs stops, its channel's messages are
 * lost, and messages it sent before are still delivered). Each live member's failure detector
 * notices the crash at a moment of its own; from then on the member discards messages from member
 * 0, and sends to member 1, the new elder, which becomes grantor (epoch 2) once it has noticed the
 * crash itself. The new grantor first recovers: it asks every live member which lock it holds and
 * whether it has a request pending, and grants nothing until all have answered; a member that
 * receives the query notices the crash first (the query comes from the new view). A lock that
 * member 0 held is released by its removal, never before. Tokens are epoch * 16 + sequence, so the
 * new grantor's exceed the old one's.
 *
 * Properties
 *   - mutual exclusion: no two live members hold the lock at once (assertion on every grant a
 *     member accepts);
 *   - fencing: every accepted grant's token is greater than every token accepted before it;
 *   - termination: every live member's client completes its NREQ rounds (a watchdog asserts it once
 *     nothing else can move, Promela's timeout, so a stuck client is an assertion violation whose
 *     trail replays to it).
 *
 * Witnesses (-DWITNESS=n; checks that expect a violation), so that the verdict means something:
 *   1  the new grantor recovers a lock that a live member holds from the old grantor;
 *   2  the new grantor recovers a pending request (one the old grantor queued or never received);
 *   3  a member discards a grant from the crashed grantor.
 *
 * Mutants (-D):
 *   GRANT_BEFORE_RECOVERY   the new grantor grants requests while it still collects the answers;
 *   RECOVERY_SKIPS_MEMBER   recovery does not ask member 2 (as if it were still joining);
 *   TOKENS_RESTART          the new grantor's tokens restart under the old epoch;
 *   ACCEPT_STALE_GRANT      a member accepts a grant from the crashed grantor after noticing the
 *                           crash (after it may have told the new grantor it holds nothing);
 *   DROP_PENDING            recovery drops the pending requests it learns of.
 */

#ifndef NREQ
#define NREQ 1
#endif

#define N 3
#define NONE 255
#define CAPACITY 6

mtype = { REQ, REL, GRANT, QUERY, REPLY };

/* to the grantor running on member g: (kind, from, token or held token, pending) */
chan toGrantor[2] = [CAPACITY] of { mtype, byte, byte, bit };
/* to member m: (kind, from, token) */
chan toMember[N] = [CAPACITY] of { mtype, byte, byte };

bit dead0;            /* member 0 crashed */
bit noticed[N];       /* member m's failure detector noticed the crash */
bit holding[N];       /* member m's client holds the lock */
byte heldToken[N];    /* the token it holds under */
bit pending[N];       /* member m's client has asked and not been granted */
byte holders;         /* live members holding the lock */
byte lastToken;       /* greatest token accepted by any member */
bit done[N];          /* member m's client completed its rounds */

#ifdef WITNESS
#define WITNESS_POINT(n, cond) assert(!(WITNESS == n && (cond)))
#else
#define WITNESS_POINT(n, cond) skip
#endif

/* The grantor a member sends to: member 0 until it noticed the crash, then member 1. */
#define GRANTOR(m) (noticed[m] -> 1 : 0)

/* Send to a grantor; what is sent to the crashed member 0 is lost. */
inline sendGrantor(sgTo, sgKind, sgFrom, sgToken, sgPending) {
    if
    :: sgTo == 0 && dead0 -> skip
    :: else -> toGrantor[sgTo]!sgKind, sgFrom, sgToken, sgPending
    fi
}

/* Send to a member; what is sent to the crashed member 0 is lost. */
inline sendMember(smTo, smKind, smFrom, smToken) {
    if
    :: smTo == 0 && dead0 -> skip
    :: else -> toMember[smTo]!smKind, smFrom, smToken
    fi
}

/* A member accepts a grant. */
inline accept(acMe, acToken) {
    assert(holders == 0);          /* mutual exclusion */
    assert(acToken > lastToken);     /* fencing */
    lastToken = acToken;
    holders++;
    holding[acMe] = 1;
    heldToken[acMe] = acToken;
    pending[acMe] = 0
}

/* A member answers a grant: it takes the lock if it is waiting for it; otherwise the grant answers
 * a request it made twice (to the old grantor, reported again in recovery, and to the new one) and
 * it gives the lock back at once. */
inline answerGrant(agMe, agFrom, agToken) {
    if
    :: pending[agMe] -> accept(agMe, agToken)
    :: else -> sendGrantor(agFrom, REL, agMe, agToken, 0)
    fi
}

/* The grantor's state (one grantor at a time runs, so one set of variables). */
byte holder = NONE;
byte holderTokenG;
bit waiting[N];
byte seq;
byte scan;            /* grantNext's loop index (grants run atomically, one grantor at a time) */

inline grantNext(gnMe, gnEpoch) {
    if
    :: holder == NONE ->
        scan = 0;
        do
        :: scan < N && waiting[scan] ->
            waiting[scan] = 0;
            seq++;
            holder = scan;
            holderTokenG = gnEpoch * 16 + seq;
            sendMember(scan, GRANT, gnMe, holderTokenG);
            break
        :: scan < N && !waiting[scan] -> scan++
        :: scan == N -> break
        od
    :: else -> skip
    fi
}

/* The grantor on member me, under epoch (member 0 from the start; member 1 once it noticed the
 * crash, after recovery). */
proctype Grantor(byte me; byte epoch) {
    byte from, token, answers, expected;
    bit p;
    if
    :: me == 1 ->
end_standby:
        noticed[1];
        atomic {
            /* Member 0's grantor state is lost with it. */
            holder = NONE;
            waiting[0] = 0; waiting[1] = 0; waiting[2] = 0;
            seq = 0
        }
        expected = 2;
        sendMember(1, QUERY, 1, 0);
#ifndef RECOVERY_SKIPS_MEMBER
        sendMember(2, QUERY, 1, 0);
#else
        expected = 1;
#endif
        do
#ifdef GRANT_BEFORE_RECOVERY
        :: toGrantor[1]??REQ, from, token, p ->
            atomic { waiting[from] = 1; grantNext(1, epoch) }
#endif
        :: answers < expected ->
            toGrantor[1]??REPLY, from, token, p;
            atomic {
                if
                :: token != 0 -> holder = from; holderTokenG = token; WITNESS_POINT(1, 1)
                :: else -> skip
                fi;
                if
                :: p ->
                    WITNESS_POINT(2, 1);
#ifndef DROP_PENDING
                    waiting[from] = 1
#else
                    skip
#endif
                :: else -> skip
                fi;
                answers++
            }
        :: answers == expected -> break
        od;
        atomic { grantNext(1, epoch) }
    :: else -> skip
    fi;
end_serve:
        do
        :: toGrantor[me]?REQ, from, token, p ->
            atomic { waiting[from] = 1; grantNext(me, epoch) }
        :: toGrantor[me]?REL, from, token, p ->
            atomic {
                if
                :: holder == from && holderTokenG == token -> holder = NONE
                :: else -> skip
                fi;
                grantNext(me, epoch)
            }
        :: toGrantor[me]?REPLY, from, token, p -> skip  /* a late answer: recovery is over */
        od unless { me == 0 && dead0 }
}

proctype Member(byte me) {
    byte round, from, token, g;
    do
    :: round < NREQ && !pending[me] && !holding[me] ->
        atomic { pending[me] = 1; g = GRANTOR(me); sendGrantor(g, REQ, me, 0, 0) }
    :: toMember[me]??GRANT, from, token ->
        atomic {
            if
#ifndef ACCEPT_STALE_GRANT
            :: from == 0 && noticed[me] -> WITNESS_POINT(3, 1)   /* from the crashed grantor: discard */
#endif
            :: else -> answerGrant(me, from, token)
            fi
        }
    :: holding[me] ->
        atomic {
            holders--;
            holding[me] = 0;
            round++;
            g = GRANTOR(me);
            sendGrantor(g, REL, me, heldToken[me], 0)
        }
    :: toMember[me]??QUERY, from, token ->
        atomic {
            noticed[me] = 1;
            token = (holding[me] -> heldToken[me] : 0);
            sendGrantor(1, REPLY, me, token, pending[me])
        }
    :: dead0 && !noticed[me] -> noticed[me] = 1
    :: round == NREQ && !holding[me] -> done[me] = 1; break
    od;
    /* Done: go on answering queries and discarding grants, as a member does. */
end_member:
    do
    :: toMember[me]??QUERY, from, token ->
        atomic { noticed[me] = 1; sendGrantor(1, REPLY, me, 0, 0) }
    :: toMember[me]??GRANT, from, token ->
        atomic {
            if
            :: from == 0 && noticed[me] -> skip
            :: else -> answerGrant(me, from, token)
            fi
        }
    :: dead0 && !noticed[me] -> noticed[me] = 1
    od
}

/* Once nothing can move, every live member's client must have completed. */
proctype Watchdog() {
    timeout -> assert(done[1] && done[2] && (done[0] || dead0))
}

init {
    atomic {
        run Watchdog();
        run Grantor(0, 1);
        run Member(1);
        run Member(2);
        run Crashable0();
#ifndef TOKENS_RESTART
        run Grantor(1, 2)
#else
        run Grantor(1, 1)     /* the new grantor's tokens restart under the old epoch */
#endif
    }
}

/* Member 0's client, and its crash at any moment. */
proctype Crashable0() {
    byte round, from, token;
    {
        do
        :: round < NREQ && !pending[0] && !holding[0] ->
            atomic { pending[0] = 1; sendGrantor(0, REQ, 0, 0, 0) }
        :: toMember[0]?GRANT, from, token -> atomic { accept(0, token) }
        :: holding[0] ->
            atomic { holders--; holding[0] = 0; round++; sendGrantor(0, REL, 0, heldToken[0], 0) }
        :: round == NREQ && !holding[0] -> done[0] = 1; break
        od;
end_member0:
        do
        :: toMember[0]?GRANT, from, token -> assert(0)
        od
    } unless {
        atomic {
            !dead0 -> dead0 = 1;
            if
            :: holding[0] -> holders--; holding[0] = 0
            :: else -> skip
            fi
        }
    }
}

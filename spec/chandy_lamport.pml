/*
 * Chandy–Lamport distributed snapshot over three processes.
 *
 * Processes 0, 1 and 2 pass TOKENS indistinguishable tokens to one another over six FIFO channels (one
 * per directed link) while process 0 starts a snapshot at a moment of its choosing. Each process
 * records its local state (the tokens it holds) when it first sees a marker or starts the snapshot,
 * sends a marker on every outgoing channel, and records every token that arrives on an incoming
 * channel after its own recording and before the marker on that channel.
 *
 * Properties
 *   - conservation: when the last process finishes, the recorded local states plus the recorded
 *     channel states hold exactly TOKENS tokens (assertion in the process that finishes last);
 *   - termination: every process finishes its part of the snapshot. A process waits for markers in a
 *     loop without an end label, so a run that stops with a process still waiting is an invalid end
 *     state. Token sends are bounded (SENDS per process), so every run is finite.
 *
 * Witness (compile with -DWITNESS=1; a check that expects a violation): a process finishes having
 * recorded a token in flight on a channel, so the channel states are not trivially empty.
 *
 * Variants (compile with -D):
 *   RECORD_AFTER_MARKER  a process keeps recording a channel after that channel's marker arrived
 *                        (until its own part of the snapshot ends); a token sent after the sender's
 *                        recording is then counted twice.
 *   NON_FIFO             receives take the first message of the wanted kind anywhere in the channel
 *                        (Promela's ?? receive): a marker may overtake a token or be overtaken by one.
 */

#ifndef TOKENS
#define TOKENS 2
#endif
#ifndef SENDS
#define SENDS 2
#endif

#define NPROCS 3
/* At most every token plus the one marker can be in flight on a channel at once. */
#define CAPACITY (TOKENS + 1)

mtype = { TOKEN, MARKER };

chan c01 = [CAPACITY] of { mtype };
chan c02 = [CAPACITY] of { mtype };
chan c10 = [CAPACITY] of { mtype };
chan c12 = [CAPACITY] of { mtype };
chan c20 = [CAPACITY] of { mtype };
chan c21 = [CAPACITY] of { mtype };

/* Written once per process, when its part of the snapshot is complete. */
byte recordedTokens;  /* sum of recorded local states and recorded channel states */
byte finishedProcs;   /* processes whose part of the snapshot is complete */

#ifdef NON_FIFO
#define RECEIVE(ch, kind) ch??kind
#else
#define RECEIVE(ch, kind) ch?kind
#endif

#ifdef RECORD_AFTER_MARKER
#define RECORDING(closed) (recorded)
#else
#define RECORDING(closed) (recorded && !closed)
#endif

/* Record the local state and send a marker on every outgoing channel. */
inline recordLocalState() {
    recorded = true;
    localTokens = tokens;
    outA!MARKER;
    outB!MARKER
}

proctype Process(bit initiator; chan inA, inB, outA, outB; byte initialTokens) {
    xr inA; xr inB; xs outA; xs outB;
    byte tokens = initialTokens;
    byte sends;           /* tokens sent so far: bounded so that every run is finite */
    bool recorded;        /* local state recorded, markers sent */
    byte localTokens;     /* the recorded local state */
    bool closedA, closedB;/* the marker on that incoming channel arrived */
    byte inFlightA, inFlightB; /* tokens recorded as in flight on that incoming channel */

    /* No end label: stopping here, with markers still awaited, is an invalid end state. */
    do
    :: tokens > 0 && sends < SENDS -> tokens--; sends++; outA!TOKEN
    :: tokens > 0 && sends < SENDS -> tokens--; sends++; outB!TOKEN
    :: RECEIVE(inA, TOKEN) ->
        tokens++;
        if
        :: RECORDING(closedA) -> inFlightA++
        :: else
        fi
    :: RECEIVE(inB, TOKEN) ->
        tokens++;
        if
        :: RECORDING(closedB) -> inFlightB++
        :: else
        fi
    :: RECEIVE(inA, MARKER) ->
        if
        :: !recorded -> recordLocalState()
        :: else
        fi;
        closedA = true
    :: RECEIVE(inB, MARKER) ->
        if
        :: !recorded -> recordLocalState()
        :: else
        fi;
        closedB = true
    :: initiator && !recorded -> recordLocalState()
    :: closedA && closedB -> break
    od;

    atomic {
#ifdef WITNESS
        assert(!(WITNESS == 1 && inFlightA + inFlightB > 0));
#endif
        recordedTokens = recordedTokens + localTokens + inFlightA + inFlightB;
        finishedProcs++;
        if
        :: finishedProcs == NPROCS -> assert(recordedTokens == TOKENS)
        :: else
        fi
    }

    /* The snapshot is over for this process; tokens keep moving until the send budget is spent. */
end_after_snapshot:
    do
    :: tokens > 0 && sends < SENDS -> tokens--; sends++; outA!TOKEN
    :: tokens > 0 && sends < SENDS -> tokens--; sends++; outB!TOKEN
    :: RECEIVE(inA, TOKEN) -> tokens++
    :: RECEIVE(inB, TOKEN) -> tokens++
    od
}

init {
    atomic {
        /* Process 0 starts the snapshot and holds every token at first. */
        run Process(1, c10, c20, c01, c02, TOKENS);
        run Process(0, c01, c21, c10, c12, 0);
        run Process(0, c02, c12, c20, c21, 0)
    }
}

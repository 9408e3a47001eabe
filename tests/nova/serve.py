"""The request loop driver.sh talks to: import it first (it prints
"pid PID" before Nova's slow import, so the test knows whom to stop from
the start), then serve(VERBS).

Requests come one per line of stdin, "TAG VERB ARGS...", and are served
one at a time by VERBS (name -> function of the string ARGS).  Answers,
one line each on stdout: "TAG done [RESULT]" or "TAG error TYPE: MESSAGE"
(the exception's lines joined by " | "; its traceback on stderr).
"ready" comes first, once the caller has everything imported."""
import os
import sys
import traceback

print('pid %d' % os.getpid(), flush=True)


def serve(verbs):
    print('ready', flush=True)
    for line in sys.stdin:
        tag, verb, *args = line.split()
        try:
            result = verbs[verb](*args)
        except Exception as e:
            traceback.print_exc()
            lines = [x.strip() for x in str(e).splitlines() if x.strip()]
            print('%s error %s: %s' % (tag, type(e).__name__, ' | '.join(lines)), flush=True)
            continue
        print('%s done%s' % (tag, '' if result is None else ' %s' % result), flush=True)

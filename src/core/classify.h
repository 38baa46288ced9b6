/* What a paired command and reply mean: the event classes that rules
 * count, and the one function that maps an SMTP event to its class. */
#ifndef RCPTGUARD_CLASSIFY_H
#define RCPTGUARD_CLASSIFY_H

#include "smtp.h"

/* Event classes: what a paired command and reply mean. */
enum ev_class {
	EC_RCPT_REJECTED,	/* 5xx to RCPT: unknown recipient */
	EC_RCPT_POLICY,		/* 5xx x.7.x to RCPT: relay, RBL, client */
	EC_RCPT_SEQUENCE,	/* 5xx to RCPT outside a transaction, 503, x.5.3 */
	EC_RCPT_OTHER,		/* 5xx to RCPT for other reasons: full, syntax */
	EC_RCPT_TEMPFAIL,	/* 4xx to RCPT: greylisting and friends */
	EC_RCPT_ACCEPTED,
	EC_VRFY_REJECTED,	/* 5xx to VRFY/EXPN */
	EC_AUTH_FAILED,		/* 535 */
	EC_UNKNOWN_COMMAND,	/* 500/502 */
	EC_MESSAGE_ACCEPTED,	/* 2xx to the end of DATA or to BDAT LAST */
	EC_SESSION,		/* 2xx greeting: a session begins */
	EC_RCPT_REJECTED_TLS,	/* inside TLS, inferred from record lengths (tls.h) */
	EC_RCPT_ACCEPTED_TLS,	/* the same, accepted: evidence for a rule's share */
	EC_TLS_UNEXPLAINED,	/* an exchange inside TLS no command mix explains */
	EC_COUNT
};

const char *ev_class_name(int cls);
/* The class names in order, then NULL. */
extern const char *const ev_class_names[EC_COUNT + 1];
int ev_class_parse(const char *name);

/* The class of an event, or -1 when it means nothing to any rule. */
int classify(const struct smtp_event *ev);

#endif

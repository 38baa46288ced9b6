#include "classify.h"

#include <string.h>

const char *const ev_class_names[EC_COUNT + 1] = {
	[EC_RCPT_REJECTED] = "rcpt_rejected",
	[EC_RCPT_POLICY] = "rcpt_policy",
	[EC_RCPT_SEQUENCE] = "rcpt_sequence",
	[EC_RCPT_OTHER] = "rcpt_other",
	[EC_RCPT_TEMPFAIL] = "rcpt_tempfail",
	[EC_RCPT_ACCEPTED] = "rcpt_accepted",
	[EC_VRFY_REJECTED] = "vrfy_rejected",
	[EC_AUTH_FAILED] = "auth_failed",
	[EC_UNKNOWN_COMMAND] = "unknown_command",
	[EC_MESSAGE_ACCEPTED] = "message_accepted",
	[EC_SESSION] = "session",
	[EC_RCPT_REJECTED_TLS] = "rcpt_rejected_tls",
	[EC_RCPT_ACCEPTED_TLS] = "rcpt_accepted_tls",
	[EC_TLS_UNEXPLAINED] = "tls_unexplained",
};

const char *ev_class_name(int cls)
{
	return cls >= 0 && cls < EC_COUNT ? ev_class_names[cls] : "none";
}

int ev_class_parse(const char *name)
{
	for (int i = 0; i < EC_COUNT; i++)
		if (strcmp(name, ev_class_names[i]) == 0)
			return i;
	return -1;
}

int classify(const struct smtp_event *ev)
{
	unsigned cls = ev->code / 100;

	if (ev->code == 500 || ev->code == 502)
		return EC_UNKNOWN_COMMAND;
	switch (ev->verb) {
	case V_RCPT:
		if (cls == 2)
			return EC_RCPT_ACCEPTED;
		if (cls == 4)
			return EC_RCPT_TEMPFAIL;
		if (cls != 5)
			return -1;
		/* Outside an accepted MAIL, a refusal says nothing about the
		 * recipient: pipelined RCPTs after a refused MAIL get 503 or
		 * 501 from real servers. x.5.3 is a recipient-count limit. */
		if (!ev->in_txn || ev->code == 503 ||
		    (ev->has_enh && ev->enh[1] == 5 && ev->enh[2] == 3))
			return EC_RCPT_SEQUENCE;
		if (ev->has_enh) {
			if (ev->enh[1] == 7)
				return EC_RCPT_POLICY;
			if (ev->enh[1] == 1 || (ev->enh[1] == 2 && ev->enh[2] == 4))
				return EC_RCPT_REJECTED;
			return EC_RCPT_OTHER;
		}
		/* No enhanced code (Exim, OpenSMTPD): 55x is about the address,
		 * 501/504 about syntax. */
		return ev->code >= 550 ? EC_RCPT_REJECTED : EC_RCPT_OTHER;
	case V_VRFY:
	case V_EXPN:
		return cls == 5 ? EC_VRFY_REJECTED : -1;
	case V_AUTH:
		return ev->code == 535 ? EC_AUTH_FAILED : -1;
	case V_EOM:
		return cls == 2 ? EC_MESSAGE_ACCEPTED : -1;
	case V_BDAT:
		return cls == 2 && ev->last ? EC_MESSAGE_ACCEPTED : -1;
	case V_GREETING:
		return cls == 2 ? EC_SESSION : -1;
	default:
		return -1;
	}
}

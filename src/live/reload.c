/* SIGHUP and `rcptguard reload`: a new configuration replaces the running
 * one only when it is valid; what the capture and the ruleset were opened
 * with stays until the next start. */
#include "daemon.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

/* SIGHUP: the new file replaces the old one only when it is valid. */
int daemon_reload(struct daemon *d, FILE *err)
{
	int errors;
	bool recount;
	char *text = NULL, changed[512];
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	struct config *c = daemon_load_config(d->cfgpath, &errors, m ? m : stderr);

	if (m) {
		char *line, *save = NULL;

		fclose(m);
		/* Each FILE:LINE error to the log, and to whoever asked. */
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			logmsg(LOG_ERR, "%s", line);
			if (err)
				fprintf(err, "%s\n", line);
		}
		free(text);
	}
	if (!c) {
		d->reload_errors++;
		logmsg(LOG_ERR, "reload: %s has %d error%s (listed above); keeping the running configuration",
		       d->cfgpath ? d->cfgpath : "defaults", errors, errors == 1 ? "" : "s");
		if (err)
			fprintf(err, "%s has %d error%s; keeping the running configuration\n",
				d->cfgpath ? d->cfgpath : "defaults", errors, errors == 1 ? "" : "s");
		return -1;
	}
	/* What the capture and the ruleset were opened with stays. */
	if (config_keep_restart(c, d->cfg, changed, sizeof(changed)))
		logmsg(LOG_WARNING, "reload: %s take%s effect at the next start", changed,
		       strchr(changed, ',') ? "" : "s");
	recount = config_rules_differ(d->cfg, c);
	if (recount)
		logmsg(LOG_NOTICE, "reload: rules changed; counting starts afresh");
	pipeline_reconfigure(&d->p, c, recount);
	summary_reconfigure(d->sum, c);
	if (d->enf) {
		enforcer_set_config(d->enf, c);
		enforcer_sync_allow(d->enf);
	}
	if (d->threaded && workers_reconfigure(&d->ws, c) < 0) {
		/* A worker may still read the old one: it stays allocated. */
		d->reload_stale++;
		logmsg(LOG_WARNING, "reload: a capture worker did not take the new configuration within "
		       "a second; it takes it with its next packet, and the old one is kept in memory");
	} else {
		config_free(d->cfg);
		free(d->cfg);
	}
	d->cfg = c;
	d->reloads++;
	logmsg(LOG_NOTICE, "reload: %s loaded", d->cfgpath ? d->cfgpath : "defaults");
	if (err)
		fprintf(err, "%s loaded\n", d->cfgpath ? d->cfgpath : "defaults");
	return 0;
}

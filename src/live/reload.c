/* SIGHUP and `rcptguard reload`: a new configuration replaces the running
 * one only when it is valid; what the capture and the ruleset were opened
 * with stays until the next start. */
#include "daemon.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

static bool capture_changed(const struct config *a, const struct config *b)
{
	return a->capture != b->capture || a->queue_first != b->queue_first ||
	       a->queue_last != b->queue_last || strcmp(a->interface, b->interface) ||
	       a->nports != b->nports || memcmp(a->ports, b->ports, sizeof(a->ports));
}

static bool rules_changed(const struct config *a, const struct config *b)
{
	if (a->nrules != b->nrules || a->max_sources != b->max_sources)
		return true;
	for (size_t i = 0; i < a->nrules; i++) {
		const struct rule *x = &a->rules[i], *y = &b->rules[i];

		if (strcmp(x->name, y->name) || x->cls != y->cls || x->threshold != y->threshold ||
		    x->window != y->window || x->ban != y->ban || x->factor != y->factor ||
		    x->max_ban != y->max_ban || x->distinct != y->distinct ||
		    x->prefix4 != y->prefix4 || x->prefix6 != y->prefix6)
			return true;
	}
	return false;
}

/* SIGHUP: the new file replaces the old one only when it is valid. */
int daemon_reload(struct daemon *d, FILE *err)
{
	int errors;
	char *text = NULL;
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
	if (capture_changed(d->cfg, c))
		logmsg(LOG_WARNING, "reload: capture settings (capture, queue, interface, smtp_ports) "
		       "take effect at the next start");
	/* Keep what the capture was opened with. */
	c->capture = d->cfg->capture;
	c->queue_first = d->cfg->queue_first;
	c->queue_last = d->cfg->queue_last;
	memcpy(c->interface, d->cfg->interface, sizeof(c->interface));
	memcpy(c->ports, d->cfg->ports, sizeof(c->ports));
	c->nports = d->cfg->nports;
	/* The ruleset too: it was installed with these. */
	if (strcmp(c->table, d->cfg->table) || c->manage_ruleset != d->cfg->manage_ruleset ||
	    c->manage_queue != d->cfg->manage_queue || c->drop != d->cfg->drop ||
	    c->gateway != d->cfg->gateway || c->set_size != d->cfg->set_size ||
	    c->observe != d->cfg->observe || strcmp(c->state_file, d->cfg->state_file))
		logmsg(LOG_WARNING, "reload: ruleset settings (mode, manage_ruleset, manage_queue, table, "
		       "drop, gateway, set_size, state_file) take effect at the next start");
	if (strcmp(c->control_socket, d->cfg->control_socket) || strcmp(c->user, d->cfg->user))
		logmsg(LOG_WARNING, "reload: control_socket and user take effect at the next start");
	memcpy(c->table, d->cfg->table, sizeof(c->table));
	c->manage_ruleset = d->cfg->manage_ruleset;
	c->manage_queue = d->cfg->manage_queue;
	c->drop = d->cfg->drop;
	c->gateway = d->cfg->gateway;
	c->set_size = d->cfg->set_size;
	c->observe = d->cfg->observe;
	memcpy(c->state_file, d->cfg->state_file, sizeof(c->state_file));
	memcpy(c->control_socket, d->cfg->control_socket, sizeof(c->control_socket));
	memcpy(c->user, d->cfg->user, sizeof(c->user));
	if (rules_changed(d->cfg, c))
		logmsg(LOG_NOTICE, "reload: rules changed; counting starts afresh");
	pipeline_reconfigure(&d->p, c, rules_changed(d->cfg, c));
	summary_reconfigure(d->sum, c);
	if (d->enf) {
		enforcer_set_config(d->enf, c);
		enforcer_sync_allow(d->enf);
	}
	config_free(d->cfg);
	free(d->cfg);
	d->cfg = c;
	d->reloads++;
	logmsg(LOG_NOTICE, "reload: %s loaded", d->cfgpath ? d->cfgpath : "defaults");
	if (err)
		fprintf(err, "%s loaded\n", d->cfgpath ? d->cfgpath : "defaults");
	return 0;
}

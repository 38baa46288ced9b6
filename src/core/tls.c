/* Rejected RCPTs inside TLS, from record lengths (see tls.h). */
#include "tls.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "util.h"

const char *const tls_cipher_names[TLSC_COUNT] = {
	[TLSC_UNKNOWN] = "unknown", [TLSC_AEAD13] = "tls13", [TLSC_GCM12] = "gcm",
	[TLSC_CHACHA12] = "chacha20", [TLSC_CBC_ETM] = "cbc_etm", [TLSC_CBC_MTE] = "cbc_mte",
	[TLSC_OTHER] = "other",
};

const char *const tls_blind_names[TLSB_COUNT] = {
	[TLSB_NONE] = "none", [TLSB_HELLO] = "no_hello", [TLSB_CIPHER] = "cipher",
	[TLSB_CALIB] = "no_calibration", [TLSB_GAP] = "gap", [TLSB_PADDING] = "padding",
	[TLSB_BROKEN] = "broken",
};

/* Recipient lengths the inference allows: "a@b" to the 254 of RFC 5321's
 * path limit without its brackets. */
#define L_MIN 3
#define L_MAX 254
/* Commands one exchange may hold; a larger one is not searched (Postfix
 * takes up to 1000 recipients a transaction by default). */
#define K_MAX 512
/* Unexplained exchanges joined with the next ones, at most. */
#define JOIN_MAX 6
/* The log-likelihood cost of each command that is not an RCPT. */
#define CMD_COST 2.5

enum { TP_HELLO, TP_HANDSHAKE, TP_FIRST, TP_DATA, TP_DEAD };

/* ---- calibration ---- */

static int cell_of(const struct smtp_event *ev, int cls)
{
	unsigned c = ev->code / 100;

	switch (ev->verb) {
	case V_RCPT:
		return c == 2 ? TC_RCPT_ACC : cls == EC_RCPT_REJECTED ? TC_RCPT_REJ : -1;
	case V_MAIL: return c == 2 ? TC_MAIL : -1;
	case V_DATA: return ev->code == 354 ? TC_DATA : -1;
	case V_EOM: return c == 2 ? TC_EOM : -1;
	case V_RSET: return c == 2 ? TC_RSET : -1;
	case V_QUIT: return ev->code == 221 ? TC_QUIT : -1;
	default: return -1;
	}
}

static uint32_t fit_add(struct tls_fit *f, int v0, int v1)
{
	uint32_t moved = 0;
	struct tls_gen *g = &f->g[f->cur];
	int v[2] = { v0, v1 };

	if (g->n == TLS_GEN) {
		f->cur ^= 1;
		g = &f->g[f->cur];
		g->n = 0;
	}
	for (int i = 0; i < 2; i++) {
		uint16_t x = (uint16_t)(v[i] < 0 ? 0 : v[i] > UINT16_MAX ? UINT16_MAX : v[i]);

		if (!g->n || x < g->lo[i])
			g->lo[i] = x, moved = 1;
		if (!g->n || x > g->hi[i])
			g->hi[i] = x, moved = 1;
	}
	g->n++;
	return moved;
}

static struct tls_calib *calib_slot(struct tls_calibs *t, const struct ipaddr *srv, bool add)
{
	struct tls_calib *old = NULL;

	for (uint32_t i = 0; i < t->n; i++) {
		if (addr_eq(&t->v[i].srv, srv))
			return &t->v[i];
		if (!old || t->v[i].seen < old->seen)
			old = &t->v[i];
	}
	if (!add)
		return NULL;
	/* Full: the one seen least takes the newcomer. */
	if (t->n < TLS_CALIB_MAX)
		old = &t->v[t->n++];
	memset(old, 0, sizeof(*old));
	old->srv = *srv;
	return old;
}

void tls_calib_observe(struct tls_calibs *t, const struct ipaddr *srv, const struct smtp_event *ev,
		       int cls)
{
	int cell = cell_of(ev, cls);
	struct tls_calib *c;
	int L = ev->rcpt_len;

	if (cell < 0 || !ev->reply_len)
		return;
	c = calib_slot(t, srv, true);
	c->seen++;
	/* A recipient cut at SMTP_RCPT_MAX says nothing of its length. */
	if (ev->verb == V_RCPT && (!L || L >= SMTP_RCPT_MAX - 1))
		return;
	t->changed += fit_add(&c->reply[cell], ev->reply_len, ev->reply_len - L);
	if (ev->cmd_len)
		t->changed += fit_add(&c->cmd[cell], ev->cmd_len, ev->cmd_len - L);
	if (ev->verb == V_RCPT) {
		c->ln++;
		c->lsum += (uint64_t)L;
		c->lsq += (uint64_t)L * (uint64_t)L;
	}
}

void tls_calib_delay(struct tls_calibs *t, const struct ipaddr *srv, uint32_t errors, uint64_t delay_us)
{
	struct tls_calib *c = calib_slot(t, srv, true);
	struct tls_sleep *s = &c->sleep;
	uint32_t e = errors < TLS_SLEEP_E ? errors : TLS_SLEEP_E - 1;
	uint64_t ms = delay_us / 1000;

	if (s->n[e] >= TLS_SLEEP_N) {
		s->n[e] /= 2;
		s->slow[e] /= 2;
		s->ms[e] /= 2;
	}
	s->n[e]++;
	if (ms >= TLS_SLOW_MS) {
		s->slow[e]++;
		s->ms[e] += (uint32_t)(ms > 600000 ? 600000 : ms);
	}
}

bool tls_calib_sleep(const struct tls_calib *c, uint32_t *after, uint32_t *ms)
{
	const struct tls_sleep *s = &c->sleep;
	uint64_t slow = 0, sum = 0;
	int first = -1;

	/* Cells of two replies or more decide; a slow one is three
	 * quarters slow, a fast one a quarter at most. The first slow cell
	 * is the limit, and every one after it must be slow too. */
	for (int e = 0; e < TLS_SLEEP_E; e++) {
		bool slow_cell = s->slow[e] * 4u >= s->n[e] * 3u, fast_cell = s->slow[e] * 4u <= s->n[e];

		if (s->n[e] < 2)
			continue;
		if (first < 0 && slow_cell)
			first = e;
		else if (!(first >= 0 ? slow_cell : fast_cell))
			return false;	/* fast past the limit, or slow-ish before it */
	}
	if (first < 1)
		return false;	/* none, or slow from the start: not an error sleep */
	for (int e = first; e < TLS_SLEEP_E; e++) {
		slow += s->slow[e];
		sum += s->ms[e];
	}
	*after = (uint32_t)first;
	*ms = (uint32_t)(sum / slow);
	return true;
}

const struct tls_calib *tls_calib_find(const struct tls_calibs *t, const struct ipaddr *srv, bool fallback)
{
	const struct tls_calib *c = calib_slot((struct tls_calibs *)t, srv, false), *best = NULL;

	if ((c && c->reply[TC_RCPT_REJ].g[0].n + c->reply[TC_RCPT_REJ].g[1].n) || !fallback)
		return c;
	/* An address with no cleartext rejection of its own (the MX's IPv6
	 * one, say) is taken to be the same server as the address best
	 * calibrated: several MTAs behind one host are rare, several
	 * addresses of one MTA common. */
	for (uint32_t i = 0; i < t->n; i++)
		if (!best || t->v[i].seen > best->seen)
			best = &t->v[i];
	return best ? best : c;
}

bool tls_calib_len(const struct tls_calib *c, bool reply, enum tls_cell cell, struct tls_len *out)
{
	const struct tls_fit *f = reply ? &c->reply[cell] : &c->cmd[cell];
	int lo[2] = { INT32_MAX, INT32_MAX }, hi[2] = { -1, -1 };
	bool any = false;

	for (int g = 0; g < 2; g++) {
		if (!f->g[g].n)
			continue;
		any = true;
		for (int i = 0; i < 2; i++) {
			if (f->g[g].lo[i] < lo[i])
				lo[i] = f->g[g].lo[i];
			if (f->g[g].hi[i] > hi[i])
				hi[i] = f->g[g].hi[i];
		}
	}
	if (!any)
		return false;
	/* A reply that follows the recipient's length: its remainder is
	 * the narrower. The RCPT line holds the recipient always. Only RCPT
	 * has a recipient. */
	out->m = (cell == TC_RCPT_ACC || cell == TC_RCPT_REJ) && (!reply || hi[1] - lo[1] < hi[0] - lo[0]);
	out->lo = lo[out->m];
	out->hi = hi[out->m];
	return true;
}

static const char *const cell_names[TC_NCELLS] = {
	[TC_RCPT_ACC] = "rcpt_accepted", [TC_RCPT_REJ] = "rcpt_rejected", [TC_MAIL] = "mail",
	[TC_DATA] = "data", [TC_EOM] = "end_of_data", [TC_RSET] = "rset", [TC_QUIT] = "quit",
};

/* The two generations as one. */
static struct tls_gen gen_union(const struct tls_fit *f)
{
	struct tls_gen u = { 0 };

	for (int g = 0; g < 2; g++) {
		const struct tls_gen *x = &f->g[g];

		if (!x->n)
			continue;
		for (int i = 0; i < 2; i++) {
			if (!u.n || x->lo[i] < u.lo[i])
				u.lo[i] = x->lo[i];
			if (!u.n || x->hi[i] > u.hi[i])
				u.hi[i] = x->hi[i];
		}
		u.n = (uint16_t)(u.n + x->n > UINT16_MAX ? UINT16_MAX : u.n + x->n);
	}
	return u;
}

void tls_calib_print(const struct tls_calibs *t, bool json, FILE *o)
{
	if (json)
		fputc('[', o);
	for (uint32_t i = 0; i < t->n; i++) {
		const struct tls_calib *c = &t->v[i];
		char a[ADDR_STRLEN];
		struct tls_len l;

		addr_fmt(&c->srv, a, sizeof(a));
		if (json)
			fprintf(o, "%s{\"server\":\"%s\",\"seen\":%llu,\"recipient_length_mean\":%.1f,\"replies\":{",
				i ? "," : "", a, (unsigned long long)c->seen,
				c->ln ? (double)c->lsum / c->ln : 0.0);
		else
			fprintf(o, "%s: %llu replies seen, recipients %.1f bytes on average; replies:", a,
				(unsigned long long)c->seen, c->ln ? (double)c->lsum / c->ln : 0.0);
		for (int k = 0, first = 1; k < TC_NCELLS; k++) {
			if (!tls_calib_len(c, true, (enum tls_cell)k, &l))
				continue;
			if (json)
				fprintf(o, "%s\"%s\":{\"lo\":%d,\"hi\":%d,\"per_recipient_byte\":%d,\"n\":%u}",
					first ? "" : ",", cell_names[k], l.lo, l.hi, l.m, gen_union(&c->reply[k]).n);
			else if (l.lo == l.hi)
				fprintf(o, " %s %d%s", cell_names[k], l.lo, l.m ? "+L" : "");
			else
				fprintf(o, " %s %d-%d%s", cell_names[k], l.lo, l.hi, l.m ? "+L" : "");
			first = 0;
		}
		{
			uint32_t after, ms;
			bool sl = tls_calib_sleep(c, &after, &ms);

			if (json && sl)
				fprintf(o, "},\"error_sleep\":{\"after_errors\":%u,\"ms\":%u}}", after, ms);
			else if (json)
				fputs("},\"error_sleep\":null}", o);
			else if (sl)
				fprintf(o, "; error sleep %u ms after %u errors\n", ms, after);
			else
				fputc('\n', o);
		}
	}
	if (json)
		fputs("]\n", o);
}

void tls_calib_save(const struct tls_calibs *t, FILE *f)
{
	for (uint32_t i = 0; i < t->n; i++) {
		const struct tls_calib *c = &t->v[i];
		char a[ADDR_STRLEN];

		addr_fmt(&c->srv, a, sizeof(a));
		fprintf(f, "calib %s prior %llu %u %llu %llu\n", a, (unsigned long long)c->seen, c->ln,
			(unsigned long long)c->lsum, (unsigned long long)c->lsq);
		for (int e = 0; e < TLS_SLEEP_E; e++)
			if (c->sleep.n[e])
				fprintf(f, "calib %s sleep %d %u %u %u\n", a, e, (unsigned)c->sleep.n[e],
					(unsigned)c->sleep.slow[e], (unsigned)c->sleep.ms[e]);
		for (int side = 0; side < 2; side++)
			for (int k = 0; k < TC_NCELLS; k++) {
				struct tls_gen u = gen_union(side ? &c->cmd[k] : &c->reply[k]);

				if (u.n)
					fprintf(f, "calib %s %s %s %u %u %u %u %u\n", a, side ? "cmd" : "reply",
						cell_names[k], (unsigned)(u.n > TLS_GEN ? TLS_GEN : u.n),
						(unsigned)u.lo[0], (unsigned)u.hi[0], (unsigned)u.lo[1],
						(unsigned)u.hi[1]);
			}
	}
}

static bool num(const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && !*end && *out <= max;
}

int tls_calib_load_line(struct tls_calibs *t, char *const *fld, int nf)
{
	struct ipaddr a;
	struct tls_calib *c;
	uint64_t v[5];

	if (nf < 3 || addr_parse(fld[1], &a))
		return -1;
	if (!strcmp(fld[2], "prior")) {
		if (nf != 7 || !num(fld[3], UINT64_MAX, &v[0]) || !num(fld[4], UINT32_MAX, &v[1]) ||
		    !num(fld[5], UINT64_MAX, &v[2]) || !num(fld[6], UINT64_MAX, &v[3]))
			return -1;
		c = calib_slot(t, &a, true);
		c->seen = v[0];
		c->ln = (uint32_t)v[1];
		c->lsum = v[2];
		c->lsq = v[3];
		return 0;
	}
	if (!strcmp(fld[2], "sleep")) {
		if (nf != 7 || !num(fld[3], TLS_SLEEP_E - 1, &v[0]) || !num(fld[4], TLS_SLEEP_N, &v[1]) ||
		    !num(fld[5], v[1], &v[2]) || !num(fld[6], UINT32_MAX, &v[3]))
			return -1;
		c = calib_slot(t, &a, true);
		c->sleep.n[v[0]] = (uint16_t)v[1];
		c->sleep.slow[v[0]] = (uint16_t)v[2];
		c->sleep.ms[v[0]] = (uint32_t)v[3];
		return 0;
	}
	if (nf != 9 || (strcmp(fld[2], "reply") && strcmp(fld[2], "cmd")))
		return -1;
	for (int k = 0; k < TC_NCELLS; k++) {
		struct tls_fit *f;

		if (strcmp(fld[3], cell_names[k]))
			continue;
		for (int i = 0; i < 5; i++)
			if (!num(fld[4 + i], i ? UINT16_MAX : TLS_GEN, &v[i]))
				return -1;
		if (!v[0] || v[1] > v[2] || v[3] > v[4])
			return -1;
		c = calib_slot(t, &a, true);
		f = fld[2][0] == 'r' ? &c->reply[k] : &c->cmd[k];
		memset(f, 0, sizeof(*f));
		f->g[0] = (struct tls_gen){ .n = (uint16_t)v[0], .lo = { (uint16_t)v[1], (uint16_t)v[3] },
					    .hi = { (uint16_t)v[2], (uint16_t)v[4] } };
		return 0;
	}
	return -1;
}

/* ---- records ---- */

void tls_ctx_init(struct tls_ctx *c, tls_event_fn fn)
{
	memset(c, 0, sizeof(*c));
	c->on_rejects = fn;
}

void tls_init(struct tls_ctx *c, struct tls *t, const struct ipaddr *srv)
{
	memset(t, 0, sizeof(*t));
	t->srv = *srv;
	t->phase = TP_HELLO;
	t->txn = false;
	c->st.sessions++;
}

/* The cipher's record expansion, from the suite the server chose. */
static void set_cipher(struct tls *t, uint16_t version, uint16_t suite, bool etm)
{
	if (version == 0x0304) {
		t->cipher = suite >= 0x1301 && suite <= 0x1305 ? TLSC_AEAD13 : TLSC_OTHER;
		return;
	}
	if (version != 0x0303) {
		t->cipher = TLSC_OTHER;
		return;
	}
	switch (suite) {
	case 0x009c: case 0x009d: case 0x009e: case 0x009f:
	case 0xc02b: case 0xc02c: case 0xc02f: case 0xc030:
	case 0xc09c: case 0xc09d: case 0xc0ac: case 0xc0ad:
		t->cipher = TLSC_GCM12;
		return;
	case 0xcca8: case 0xcca9: case 0xccaa:
		t->cipher = TLSC_CHACHA12;
		return;
	/* AES-CBC with SHA-1 */
	case 0x002f: case 0x0035: case 0x0033: case 0x0039:
	case 0xc009: case 0xc00a: case 0xc013: case 0xc014:
		t->mac = 20;
		break;
	/* with SHA-256 */
	case 0x003c: case 0x003d: case 0x0067: case 0x006b: case 0xc023: case 0xc027:
		t->mac = 32;
		break;
	/* with SHA-384 */
	case 0xc024: case 0xc028:
		t->mac = 48;
		break;
	default:
		t->cipher = TLSC_OTHER;
		return;
	}
	t->cipher = etm ? TLSC_CBC_ETM : TLSC_CBC_MTE;
}

/* The ServerHello at the start of the server's handshake bytes. */
static bool parse_hello(struct tls *t)
{
	const uint8_t *h = t->hs;
	size_t n = t->nhs, i, end, sid;
	uint16_t version, suite;
	bool etm = false;

	if (n < 4 + 2 + 32 + 1 || h[0] != 2)
		return false;
	end = 4 + ((size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3]);
	if (end > n)
		end = n;	/* extensions past what we kept: those seen count */
	version = (uint16_t)(h[4] << 8 | h[5]);
	i = 4 + 2 + 32;
	sid = h[i];
	i += 1 + sid;
	if (i + 3 > end)
		return false;
	suite = (uint16_t)(h[i] << 8 | h[i + 1]);
	i += 3;			/* suite, compression */
	if (i + 2 <= end) {
		size_t ext_end = i + 2 + (size_t)(h[i] << 8 | h[i + 1]);

		i += 2;
		if (ext_end > end)
			ext_end = end;
		while (i + 4 <= ext_end) {
			uint16_t type = (uint16_t)(h[i] << 8 | h[i + 1]);
			size_t len = (size_t)(h[i + 2] << 8 | h[i + 3]);

			i += 4;
			if (type == 0x002b && len == 2 && i + 2 <= ext_end)
				version = (uint16_t)(h[i] << 8 | h[i + 1]);	/* supported_versions */
			else if (type == 0x0016)
				etm = true;	/* encrypt_then_mac */
			i += len;
		}
	}
	set_cipher(t, version, suite, etm);
	return true;
}

bool tls_plaintext(const struct tls *t, uint16_t len, struct tls_rec *out)
{
	int lo, hi, b;

	switch (t->cipher) {
	case TLSC_AEAD13:
		if (t->pad) {
			/* Content, type byte and zeros fill whole blocks. */
			hi = len - 17;
			lo = len - 16 - t->pad;
		} else {
			lo = hi = len - 17;
		}
		break;
	case TLSC_GCM12:
		lo = hi = len - 24;
		break;
	case TLSC_CHACHA12:
		lo = hi = len - 16;
		break;
	case TLSC_CBC_ETM:
		/* IV, then blocks of plaintext and 1 to 16 bytes of padding. */
		b = (len - 16 - t->mac) / 16;
		hi = 16 * b - 1;
		lo = 16 * b - 16;
		break;
	case TLSC_CBC_MTE:
		b = (len - 16) / 16;
		hi = 16 * b - t->mac - 1;
		lo = 16 * b - t->mac - 16;
		break;
	default:
		return false;
	}
	if (hi < 0)
		return false;
	out->lo = (uint16_t)(lo < 0 ? 0 : lo);
	out->hi = (uint16_t)hi;
	return true;
}

static void go_blind(struct tls_ctx *c, struct tls *t, int why)
{
	if (!t->blind && !t->counted)
		c->st.blind[why]++;
	if (!t->blind)
		t->blind = (uint8_t)why;
	t->phase = TP_DEAD;
}

/* ---- the inference ---- */

/* A feasible point of X in ix, Y in iy, X + Y in is, nearest (tx, ty). */
struct range {
	int64_t lo, hi;
};

static bool clamp_into(struct range *r, int64_t lo, int64_t hi)
{
	if (lo > r->lo)
		r->lo = lo;
	if (hi < r->hi)
		r->hi = hi;
	return r->lo <= r->hi;
}

static int64_t nearest(int64_t v, struct range r)
{
	return v < r.lo ? r.lo : v > r.hi ? r.hi : v;
}

struct model {
	struct tls_len rep[TC_NCELLS], cmd[TC_NCELLS];
	bool has_rep[TC_NCELLS], has_cmd[TC_NCELLS];
	double mu, var;
};

struct mix {
	int mail, rset, data, quit, k, r;
	double score;
};

/* What a mix's commands other than RCPT add to each side, once a mix of
 * them: false if one was never calibrated. */
struct others {
	int64_t cfl, cfh, sfl, sfh;
	int n;
};

static bool others_of(const struct model *m, const struct mix *x, struct others *o)
{
	static const int cells[4] = { TC_MAIL, TC_RSET, TC_DATA, TC_QUIT };
	const int on[4] = { x->mail, x->rset, x->data, x->quit };

	memset(o, 0, sizeof(*o));
	for (int i = 0; i < 4; i++) {
		if (!on[i])
			continue;
		if (!m->has_rep[cells[i]] || !m->has_cmd[cells[i]])
			return false;
		o->cfl += m->cmd[cells[i]].lo;
		o->cfh += m->cmd[cells[i]].hi;
		o->sfl += m->rep[cells[i]].lo;
		o->sfh += m->rep[cells[i]].hi;
		o->n++;
	}
	return true;
}

/* Does this mix fill both sides? Its score, or -INFINITY. */
static double try_mix(const struct model *m, const struct tls *t, const struct mix *x, const struct others *o)
{
	int a = x->k - x->r;
	const struct tls_len *rc = &m->cmd[TC_RCPT_ACC];	/* a RCPT line, accepted or not */
	int64_t cfl = o->cfl, cfh = o->cfh, sfl = o->sfl, sfh = o->sfh;
	struct range ix = { (int64_t)x->r * L_MIN, (int64_t)x->r * L_MAX };
	struct range iy = { (int64_t)a * L_MIN, (int64_t)a * L_MAX };
	struct range isum = { INT64_MIN, INT64_MAX };
	int64_t cres_lo, cres_hi, sres_lo, sres_hi, X, Y, S;
	const struct tls_len *rj = &m->rep[TC_RCPT_REJ], *ac = &m->rep[TC_RCPT_ACC];
	double score = -CMD_COST * o->n;

	cfl += (int64_t)x->k * rc->lo;
	cfh += (int64_t)x->k * rc->hi;
	sfl += (int64_t)x->r * rj->lo + (int64_t)a * ac->lo;
	sfh += (int64_t)x->r * rj->hi + (int64_t)a * ac->hi;
	cres_lo = (int64_t)t->clo - cfh;
	cres_hi = (int64_t)t->chi - cfl;
	sres_lo = (int64_t)t->slo - sfh;
	sres_hi = (int64_t)t->shi - sfl;
	/* The client's side: rc->m * (X + Y) in cres. */
	if (rc->m) {
		if (!clamp_into(&isum, cres_lo, cres_hi))
			return -INFINITY;
	} else if (cres_lo > 0 || cres_hi < 0) {
		return -INFINITY;
	}
	/* The server's: rj->m * X + ac->m * Y in sres. */
	if (rj->m && ac->m) {
		if (!clamp_into(&isum, sres_lo, sres_hi))
			return -INFINITY;
	} else if (rj->m) {
		if (!clamp_into(&ix, sres_lo, sres_hi))
			return -INFINITY;
	} else if (ac->m) {
		if (!clamp_into(&iy, sres_lo, sres_hi))
			return -INFINITY;
	} else if (sres_lo > 0 || sres_hi < 0) {
		return -INFINITY;
	}
	if (!clamp_into(&isum, ix.lo + iy.lo, ix.hi + iy.hi))
		return -INFINITY;
	/* The likeliest recipient lengths that fit. */
	S = nearest((int64_t)((x->r + a) * m->mu), isum);
	X = nearest((int64_t)(x->r * m->mu), (struct range){ ix.lo > S - iy.hi ? ix.lo : S - iy.hi,
							    ix.hi < S - iy.lo ? ix.hi : S - iy.lo });
	Y = S - X;
	if (x->r)
		score -= (X - x->r * m->mu) * (X - x->r * m->mu) / (2 * x->r * m->var);
	if (a)
		score -= (Y - a * m->mu) * (Y - a * m->mu) / (2 * a * m->var);
	return score;
}

static bool model_of(const struct tls_calib *cal, struct model *m)
{
	memset(m, 0, sizeof(*m));
	if (!cal)
		return false;
	for (int i = 0; i < TC_NCELLS; i++) {
		m->has_rep[i] = tls_calib_len(cal, true, i, &m->rep[i]);
		m->has_cmd[i] = tls_calib_len(cal, false, i, &m->cmd[i]);
	}
	/* The client's lines are the grammar's where never seen: the RCPT
	 * line is 12 + L whatever the reply (accepted RCPTs give its fit). */
	if (!m->has_cmd[TC_RCPT_ACC] && m->has_cmd[TC_RCPT_REJ])
		m->cmd[TC_RCPT_ACC] = m->cmd[TC_RCPT_REJ], m->has_cmd[TC_RCPT_ACC] = true;
	if (!m->has_cmd[TC_RCPT_ACC])
		m->cmd[TC_RCPT_ACC] = (struct tls_len){ 12, 12, 1 }, m->has_cmd[TC_RCPT_ACC] = true;
	for (int i = TC_DATA; i <= TC_QUIT; i++)
		if (i != TC_EOM && !m->has_cmd[i])
			m->cmd[i] = (struct tls_len){ 6, 6, 0 }, m->has_cmd[i] = true;
	if (cal->ln) {
		m->mu = (double)cal->lsum / cal->ln;
		m->var = (double)cal->lsq / cal->ln - m->mu * m->mu;
	} else {
		m->mu = 20;
	}
	if (m->var < 16)
		m->var = 16;
	return m->has_rep[TC_RCPT_ACC] && m->has_rep[TC_RCPT_REJ];
}

/* The smallest reject minus the largest accept, over every length. */
static int32_t reject_gap(const struct model *m)
{
	const struct tls_len *rj = &m->rep[TC_RCPT_REJ], *ac = &m->rep[TC_RCPT_ACC];

	if (rj->m == ac->m) {
		int32_t g1 = rj->lo - ac->hi, g2 = ac->lo - rj->hi;

		return g1 > g2 ? g1 : g2;
	}
	return rj->m ? rj->lo + L_MIN - ac->hi : ac->lo + L_MIN - rj->hi;
}

static void reset_exchange(struct tls *t)
{
	t->clo = t->chi = t->slo = t->shi = 0;
	t->nc = t->ns = 0;
	t->server_seen = false;
	t->joins = 0;
}

/* When an exchange is judged: a server record has come (early: only a
 * mix that explains it commits, nothing else changes), the client speaks
 * again (an unexplained exchange is joined with the next), or the session
 * ends (final: nothing more will join). */
enum judge_when { J_EARLY, J_NEXT, J_FINAL };

/* The counts of rejects r that the server's bytes allow among k RCPTs,
 * whatever the recipients' lengths: the fewest and the most reply bytes
 * are linear in r, so each bound is one division. A necessary condition
 * only: try_mix decides. */
static int64_t div_floor(int64_t a, int64_t b)
{
	return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

static void r_bounds(const struct model *m, const struct tls *t, const struct others *o, int k, int *r0,
		     int *r1)
{
	const struct tls_len *rj = &m->rep[TC_RCPT_REJ], *ac = &m->rep[TC_RCPT_ACC];
	int64_t amin = ac->lo + ac->m * L_MIN, amax = ac->hi + ac->m * L_MAX;
	int64_t a0 = o->sfl + (int64_t)k * amin, da = rj->lo + rj->m * L_MIN - amin;
	int64_t b0 = o->sfh + (int64_t)k * amax, db = rj->hi + rj->m * L_MAX - amax;
	int64_t lo = 0, hi = k;

	/* a0 + r * da <= shi: the fewest bytes r rejects can be. */
	if (da > 0)
		hi = div_floor((int64_t)t->shi - a0, da) < hi ? div_floor((int64_t)t->shi - a0, da) : hi;
	else if (da < 0)
		lo = -div_floor(a0 - (int64_t)t->shi, -da) > lo ? -div_floor(a0 - (int64_t)t->shi, -da) : lo;
	else if (a0 > (int64_t)t->shi)
		hi = -1;
	/* b0 + r * db >= slo: the most. */
	if (db > 0)
		lo = -div_floor(b0 - (int64_t)t->slo, db) > lo ? -div_floor(b0 - (int64_t)t->slo, db) : lo;
	else if (db < 0)
		hi = div_floor(b0 - (int64_t)t->slo, -db) < hi ? div_floor(b0 - (int64_t)t->slo, -db) : hi;
	else if (b0 < (int64_t)t->slo)
		hi = -1;
	*r0 = (int)(lo < 0 ? 0 : lo);
	*r1 = (int)(hi > k ? k : hi);
}

/* The likeliest mix of the open exchange, and the fewest rejections of
 * any that fits; false if none fits. */
static bool search(const struct tls *t, const struct model *m, int kmax, struct mix *best, int *lower)
{
	struct mix x;

	best->score = -INFINITY;
	*lower = -1;
	for (x.rset = 0; x.rset < 2; x.rset++)
		for (x.mail = 0; x.mail < 2; x.mail++)
			for (x.data = 0; x.data < 2; x.data++)
				for (x.quit = 0; x.quit < 2; x.quit++) {
					bool open = (t->txn && !x.rset) || x.mail;
					struct others o;

					/* SMTP's order: MAIL inside a transaction needs
					 * an RSET first; DATA needs an accepted RCPT;
					 * nothing follows DATA's reply but the body. */
					if ((x.mail && t->txn && !x.rset) || (x.data && x.quit) || !others_of(m, &x, &o))
						continue;
					for (x.k = 0; x.k <= kmax; x.k++) {
						const struct tls_len *rc = &m->cmd[TC_RCPT_ACC];
						int64_t lo = (int64_t)t->clo - o.cfh - (int64_t)x.k * rc->hi;
						int64_t hi = (int64_t)t->chi - o.cfl - (int64_t)x.k * rc->lo;

						if (x.k && !open)
							break;
						/* The client's bytes alone rule this k out. */
						if (rc->m ? hi < (int64_t)x.k * L_MIN || lo > (int64_t)x.k * L_MAX :
							    lo > 0 || hi < 0)
							continue;
						int r0, r1;

						r_bounds(m, t, &o, x.k, &r0, &r1);
						for (x.r = r0; x.r <= r1; x.r++) {
							if (x.data && !(x.k - x.r || (t->rcpt_ok && !x.rset && !x.mail)))
								continue;
							if (!x.k && !x.mail && !x.rset && !x.data && !x.quit)
								continue;
							x.score = try_mix(m, t, &x, &o);
							if (x.score == -INFINITY)
								continue;
							if (*lower < 0 || x.r < *lower)
								*lower = x.r;
							if (x.score > best->score)
								*best = x;
						}
					}
				}
	return best->score != -INFINITY;
}

static void judge(struct tls_ctx *c, struct tls *t, void *arg, enum judge_when when)
{
	struct model m;
	struct mix best = { .score = -INFINITY };
	int lower = -1, kmax;

	if (!t->nc && !t->ns)
		return;
	if (!model_of(tls_calib_find(&c->cal, &t->srv, c->fallback), &m)) {
		if (when != J_EARLY) {
			c->st.exchanges++;
			reset_exchange(t);
		}
		return;
	}
	if (t->body) {
		/* The message, then its end-of-data reply (and a QUIT's). */
		struct tls_len *e = &m.rep[TC_EOM], *q = &m.rep[TC_QUIT];
		bool fits = m.has_rep[TC_EOM] && ((t->slo <= (uint32_t)e->hi && t->shi >= (uint32_t)e->lo) ||
						  (m.has_rep[TC_QUIT] && t->slo <= (uint32_t)(e->hi + q->hi) &&
						   t->shi >= (uint32_t)(e->lo + q->lo)));

		if (when == J_EARLY && !fits)
			return;
		c->st.exchanges++;
		t->body = false;
		t->txn = t->rcpt_ok = false;
		c->st.explained += fits;
		c->st.unexplained += !fits;
		reset_exchange(t);
		return;
	}
	kmax = (int)(t->chi / (uint32_t)(m.cmd[TC_RCPT_ACC].lo + L_MIN));
	if (kmax > K_MAX) {
		if (when == J_EARLY)
			return;
		c->st.exchanges++;
		c->st.capped++;
		reset_exchange(t);
		return;
	}
	if (!search(t, &m, kmax, &best, &lower)) {
		if (when == J_EARLY)
			return;		/* more of the server's replies to come */
		c->st.exchanges++;
		/* Replies late in a later exchange (a client that streams its
		 * commands): judged again with the next ones. */
		if (t->joins < JOIN_MAX && when == J_NEXT) {
			t->joins++;
			t->server_seen = false;
			return;
		}
		c->st.unexplained++;
		if (c->on_rejects)
			c->on_rejects(arg, 0, 0, 0, true);
		reset_exchange(t);
		return;
	}
	c->st.exchanges++;
	c->st.explained++;
	c->st.rejected += (uint64_t)best.r;
	c->st.rejected_lower += (uint64_t)lower;
	c->st.accepted += (uint64_t)(best.k - best.r);
	if (best.rset)
		t->txn = t->rcpt_ok = false;
	if (best.mail)
		t->txn = true, t->rcpt_ok = false;
	if (best.k > best.r)
		t->rcpt_ok = true;
	if (best.data)
		t->body = true;
	if (best.k && c->on_rejects)
		c->on_rejects(arg, (uint32_t)best.r, (uint32_t)lower, (uint32_t)(best.k - best.r), false);
	/* A QUIT may have been an RSET (under CBC both are a 16-byte block
	 * each way): the session goes on if its records do. */
	if (best.quit)
		t->txn = t->rcpt_ok = false;
	reset_exchange(t);
}

/* Entering the data phase: may this session count at all? */
static void gate(struct tls_ctx *c, struct tls *t)
{
	struct model m;
	int32_t gap, quantum;

	if (!model_of(tls_calib_find(&c->cal, &t->srv, c->fallback), &m)) {
		go_blind(c, t, TLSB_CALIB);
		return;
	}
	gap = reject_gap(&m);
	quantum = t->cipher == TLSC_CBC_ETM || t->cipher == TLSC_CBC_MTE ? 16 : 1;
	if (t->pad > quantum)
		quantum = t->pad;
	if (gap <= quantum) {
		go_blind(c, t, t->pad ? TLSB_PADDING : TLSB_GAP);
		return;
	}
	t->counted = true;
	c->st.counted++;
}

/* A TLS 1.3 server record before the data: the largest power of two (to
 * 4096) dividing every such record's length less the tag. One that pads
 * (OpenSSL's RecordPadding) has a block of 32 or more; one that does not
 * has, over the handshake's four or five records, almost surely less. */
static void pad_note(struct tls *t, uint16_t len)
{
	uint16_t v = (uint16_t)(len - 16), b = 1;

	if (t->cipher != TLSC_AEAD13 || len < 16)
		return;
	while (b < 4096 && v && v % (b * 2) == 0)
		b *= 2;
	if (!t->pad_seen++ || b < t->pad)
		t->pad = b;
}

static void record(struct tls_ctx *c, struct tls *t, int dir, void *arg)
{
	struct tls_dir *d = &t->dir[dir];
	struct tls_rec r;

	c->st.records[dir]++;
	switch (t->phase) {
	case TP_HELLO:
		if (dir == 1 && d->type == 22) {
			if (!parse_hello(t)) {
				go_blind(c, t, TLSB_HELLO);
				return;
			}
			c->st.by_cipher[t->cipher]++;
			if (t->cipher == TLSC_OTHER) {
				go_blind(c, t, TLSB_CIPHER);
				return;
			}
			t->phase = TP_HANDSHAKE;
		} else if (d->type == 23) {
			go_blind(c, t, TLSB_HELLO);
		}
		return;
	case TP_HANDSHAKE:
		/* The server's encrypted handshake (TLS 1.3) says whether it
		 * pads. The client's first application record is its EHLO; in
		 * TLS 1.3 its Finished comes first, encrypted the same way. */
		if (dir == 1 && d->type == 23)
			pad_note(t, d->len);
		if (dir == 0 && d->type == 23 && ++d->app == (t->cipher == TLSC_AEAD13 ? 2u : 1u))
			t->phase = TP_FIRST;
		return;
	case TP_FIRST:
		/* EHLO's reply and the session tickets: skipped, but they say
		 * whether the server pads. */
		if (d->type != 23)
			return;
		if (dir == 1) {
			t->server_seen = true;
			pad_note(t, d->len);
			return;
		}
		if (!t->server_seen)
			return;
		if (t->pad_seen < 2 || t->pad < 32)
			t->pad = 0;
		gate(c, t);
		if (t->phase == TP_DEAD)
			return;
		t->phase = TP_DATA;
		reset_exchange(t);
		/* This record opens the first exchange. */
		/* fall through */
	case TP_DATA:
		if (d->type != 23 || !tls_plaintext(t, d->len, &r) || r.hi < 5)
			return;	/* alerts, close_notify, key updates */
		if (dir == 0) {
			if (t->server_seen)
				judge(c, t, arg, J_NEXT);
			if (t->phase == TP_DEAD)
				return;
			t->clo += r.lo;
			t->chi += r.hi;
			t->nc++;
		} else {
			t->slo += r.lo;
			t->shi += r.hi;
			t->ns++;
			t->server_seen = true;
			/* Judged at once when the replies so far explain it: a
			 * ban then reaches the kernel before the record that
			 * decided it leaves (NFQUEUE holds it meanwhile). Not
			 * at a record Postfix may have cut at its buffer's
			 * size: the rest follows. */
			if (t->nc && !(r.lo <= 4096 && r.hi >= 4096) && !(r.lo <= 16384 && r.hi >= 16384))
				judge(c, t, arg, J_EARLY);
		}
		return;
	default:
		return;
	}
}

void tls_data(struct tls_ctx *c, struct tls *t, int dir, const uint8_t *p, uint32_t n, void *arg)
{
	struct tls_dir *d = &t->dir[dir];

	if (t->phase == TP_DEAD)
		return;
	if (!p) {
		go_blind(c, t, TLSB_BROKEN);
		return;
	}
	while (n && t->phase != TP_DEAD) {
		if (d->nhdr < 5) {
			d->hdr[d->nhdr++] = *p++;
			n--;
			if (d->nhdr < 5)
				continue;
			d->type = d->hdr[0];
			d->len = (uint16_t)(d->hdr[3] << 8 | d->hdr[4]);
			if (d->type < 20 || d->type > 24 || d->hdr[1] != 3 || d->len > 16384 + 2048) {
				go_blind(c, t, TLSB_BROKEN);
				return;
			}
			d->left = d->len;
			if (!d->left) {
				record(c, t, dir, arg);
				d->nhdr = 0;
			}
			continue;
		}
		{
			uint32_t take = n < d->left ? n : d->left;

			/* The server's first handshake record: the ServerHello. */
			if (dir == 1 && d->type == 22 && t->phase == TP_HELLO) {
				uint32_t room = (uint32_t)sizeof(t->hs) - t->nhs;
				uint32_t k = take < room ? take : room;

				memcpy(t->hs + t->nhs, p, k);
				t->nhs = (uint16_t)(t->nhs + k);
			}
			p += take;
			n -= take;
			d->left = (uint16_t)(d->left - take);
			if (!d->left) {
				record(c, t, dir, arg);
				d->nhdr = 0;
			}
		}
	}
}

bool tls_done(const struct tls *t)
{
	return t->phase == TP_DEAD;
}

void tls_flush(struct tls_ctx *c, struct tls *t, void *arg)
{
	if (t->phase == TP_DATA && t->server_seen)
		judge(c, t, arg, J_NEXT);
}

void tls_end(struct tls_ctx *c, struct tls *t, void *arg)
{
	if (t->phase == TP_DATA && (t->server_seen || t->joins))
		judge(c, t, arg, J_FINAL);
	if (t->phase == TP_HELLO)
		go_blind(c, t, TLSB_HELLO);
	t->phase = TP_DEAD;
}

/* libFuzzer: the configuration parser, on any text. Whatever it accepts
 * must print back into text it accepts again, with the same result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct config c, d;
	char *out1 = NULL, *out2 = NULL;
	size_t n1 = 0, n2 = 0;
	FILE *f;

	memcpy(text, data, size);
	text[size] = 0;
	config_defaults(&c);
	if (config_load_string(&c, text, "fuzz", NULL) == 0) {
		f = open_memstream(&out1, &n1);
		config_print(&c, f);
		fclose(f);
		config_defaults(&d);
		if (config_load_string(&d, out1, "printed", stderr) != 0)
			abort();	/* what it printed, it must read */
		f = open_memstream(&out2, &n2);
		config_print(&d, f);
		fclose(f);
		if (n1 != n2 || memcmp(out1, out2, n1))
			abort();
		config_free(&d);
		free(out1);
		free(out2);
	}
	config_free(&c);
	free(text);
	return 0;
}

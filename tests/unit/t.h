/* A tiny test harness: TEST() registers a function, CHECK() records a
 * failure with its place; a test passes when none of its checks failed. */
#ifndef RCPTGUARD_T_H
#define RCPTGUARD_T_H

#include <stdio.h>
#include <string.h>

void t_register(const char *name, void (*fn)(void));
void t_fail(const char *file, int line, const char *what);

#define TEST(name)                                                        \
	static void name(void);                                           \
	__attribute__((constructor)) static void reg_##name(void)         \
	{                                                                 \
		t_register(#name, name);                                  \
	}                                                                 \
	static void name(void)

#define CHECK(c)                                                          \
	do {                                                              \
		if (!(c))                                                 \
			t_fail(__FILE__, __LINE__, #c);                   \
	} while (0)

#define CHECK_EQ(a, b)                                                    \
	do {                                                              \
		long long a_ = (long long)(a), b_ = (long long)(b);       \
		if (a_ != b_) {                                           \
			char m_[256];                                     \
			snprintf(m_, sizeof(m_), "%s == %s (%lld != %lld)", \
				 #a, #b, a_, b_);                         \
			t_fail(__FILE__, __LINE__, m_);                   \
		}                                                         \
	} while (0)

#define CHECK_STR(a, b)                                                   \
	do {                                                              \
		const char *a_ = (a), *b_ = (b);                          \
		if (strcmp(a_, b_)) {                                     \
			char m_[512];                                     \
			snprintf(m_, sizeof(m_), "%s == \"%.200s\" (got \"%.200s\")", \
				 #a, b_, a_);                             \
			t_fail(__FILE__, __LINE__, m_);                   \
		}                                                         \
	} while (0)

#endif

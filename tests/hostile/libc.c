/*
 * The few C library pieces the hostile guest needs: memory helpers, console output with a
 * small printf (%s %u %x %d %c, 'l'/'ll' ignored for u64 via %U/%X), the command line and RAM size.
 */
#include <stdarg.h>

#include "guest.h"

uint32_t ram_end;
const char *cmdline = "";

void *memset(void *d, int c, size_t n)
{
	uint8_t *p = d;
	__asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	void *dd = d;
	__asm__ volatile("rep movsb" : "+D"(dd), "+S"(s), "+c"(n) : : "memory");
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

void con_write(const char *s, size_t n)
{
	__asm__ volatile("rep outsb" : "+S"(s), "+c"(n) : "d"((uint16_t)SERIAL_PORT) : "memory");
}

void con_puts(const char *s)
{
	con_write(s, strlen(s));
}

/* 64-bit division by shift and subtract: a 32-bit freestanding build has no libgcc. */
static uint64_t divmod64(uint64_t v, uint32_t base, uint32_t *rem)
{
	uint64_t q = 0, r = 0;
	for (int i = 63; i >= 0; i--) {
		r = (r << 1) | ((v >> i) & 1);
		if (r >= base) {
			r -= base;
			q |= 1ull << i;
		}
	}
	*rem = (uint32_t)r;
	return q;
}

static char *put_num(char *p, char *end, uint64_t v, unsigned base)
{
	char tmp[24];
	int n = 0;
	do {
		uint32_t digit;
		v = divmod64(v, base, &digit);
		tmp[n++] = "0123456789abcdef"[digit];
	} while (v);
	while (n && p < end)
		*p++ = tmp[--n];
	return p;
}

/* %s %c %u %d %x for 32-bit values, %U %X for 64-bit ones. */
void con_printf(const char *fmt, ...)
{
	char buf[256], *p = buf, *end = buf + sizeof(buf) - 1;
	va_list ap;
	va_start(ap, fmt);
	for (; *fmt && p < end; fmt++) {
		if (*fmt != '%') {
			*p++ = *fmt;
			continue;
		}
		switch (*++fmt) {
		case 's':
			for (const char *s = va_arg(ap, const char *); *s && p < end; s++)
				*p++ = *s;
			break;
		case 'c':
			*p++ = (char)va_arg(ap, int);
			break;
		case 'u':
			p = put_num(p, end, va_arg(ap, uint32_t), 10);
			break;
		case 'd': {
			int32_t v = va_arg(ap, int32_t);
			if (v < 0 && p < end) {
				*p++ = '-';
				v = -v;
			}
			p = put_num(p, end, (uint32_t)v, 10);
			break;
		}
		case 'x':
			p = put_num(p, end, va_arg(ap, uint32_t), 16);
			break;
		case 'U':
			p = put_num(p, end, va_arg(ap, uint64_t), 10);
			break;
		case 'X':
			p = put_num(p, end, va_arg(ap, uint64_t), 16);
			break;
		case '\0':
			fmt--;
			break;
		default:
			*p++ = *fmt;
			break;
		}
	}
	va_end(ap);
	con_write(buf, (size_t)(p - buf));
}

bool cmdline_get(const char *key, char *out, size_t len)
{
	size_t klen = strlen(key);
	for (const char *s = cmdline; *s; s++) {
		if ((s != cmdline && s[-1] != ' ') || memcmp(s, key, klen) != 0 || s[klen] != '=')
			continue;
		s += klen + 1;
		size_t n = 0;
		while (s[n] && s[n] != ' ' && n + 1 < len) {
			out[n] = s[n];
			n++;
		}
		out[n] = '\0';
		return true;
	}
	return false;
}

uint32_t parse_u32(const char *s)
{
	uint32_t v = 0;
	if (s[0] == '0' && s[1] == 'x') {
		for (s += 2; *s; s++) {
			unsigned d = (*s >= '0' && *s <= '9')	? (unsigned)(*s - '0')
				     : (*s >= 'a' && *s <= 'f') ? (unsigned)(*s - 'a' + 10)
								: 16;
			if (d == 16)
				break;
			v = v * 16 + d;
		}
		return v;
	}
	for (; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (uint32_t)(*s - '0');
	return v;
}

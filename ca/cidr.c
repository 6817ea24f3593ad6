/*
 * cidr: network lists of the policy (role allow-lists, rate limit
 * exemptions).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ca/cidr.h"
#include "common/limits.h"

struct cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	int prefix;
};

struct cidr_list {
	struct cidr net[LIMIT_POLICY_ENTRIES];
	size_t count;
};

struct cidr_list *
cidr_list_new(void)
{
	return calloc(1, sizeof(struct cidr_list));
}

void
cidr_list_free(struct cidr_list *list)
{
	free(list);
}

/* "10.0.0.0/8", "::1/128" or a bare address (a host). */
static int
cidr_parse(const char *s, struct cidr *out)
{
	char addr[INET6_ADDRSTRLEN + 1], *end;
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	long prefix;

	if (n == 0 || n >= sizeof(addr))
		return -1;
	memcpy(addr, s, n);
	addr[n] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, addr, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, out->addr) == 1)
		out->family = AF_INET6;
	else
		return -1;
	out->prefix = out->family == AF_INET ? 32 : 128;
	if (slash == NULL)
		return 0;
	errno = 0;
	prefix = strtol(slash + 1, &end, 10);
	if (errno != 0 || end == slash + 1 || *end != '\0' || prefix < 0 ||
	    prefix > out->prefix)
		return -1;
	out->prefix = (int)prefix;
	return 0;
}

enum status
cidr_list_add(struct cidr_list *list, const char *s)
{
	if (list->count == LIMIT_POLICY_ENTRIES)
		return ST_LIMIT;
	if (cidr_parse(s, &list->net[list->count]) != 0)
		return ST_MALFORMED;
	list->count++;
	return ST_OK;
}

size_t
cidr_list_count(const struct cidr_list *list)
{
	return list != NULL ? list->count : 0;
}

static int
cidr_match(const struct cidr *net, int family, const uint8_t *addr)
{
	int full = net->prefix / 8, rest = net->prefix % 8;
	uint8_t mask;

	if (net->family != family)
		return 0;
	if (memcmp(net->addr, addr, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (net->addr[full] & mask) == (addr[full] & mask);
}

int
cidr_list_match(const struct cidr_list *list, const char *address)
{
	uint8_t addr[16];
	int family;
	size_t i;

	if (list == NULL || address == NULL)
		return 0;
	if (inet_pton(AF_INET, address, addr) == 1) {
		family = AF_INET;
	} else if (inet_pton(AF_INET6, address, addr) == 1) {
		family = AF_INET6;
		/* An IPv4-mapped IPv6 address is checked as IPv4. */
		if (memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
			memmove(addr, addr + 12, 4);
			family = AF_INET;
		}
	} else {
		return 0;
	}
	for (i = 0; i < list->count; i++)
		if (cidr_match(&list->net[i], family, addr))
			return 1;
	return 0;
}

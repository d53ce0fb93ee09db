/*
 * liblimiter_next.so - a library of the kind applications and tools load
 * beside CUDA: it wraps puts and reaches the real one with
 * dlsym(RTLD_NEXT, ...), the way interposers do. limiter_probe's `dlnext`
 * command checks that with libvxpu.so preloaded in front of it, RTLD_NEXT
 * from here still resolves relative to this library.
 */
#include <dlfcn.h>
#include <stdio.h>

void *limiter_next_of(const char *name);

void *limiter_next_of(const char *name)
{
	/* Not a tail call: glibc must see this library as the caller. */
	void *volatile found = dlsym(RTLD_NEXT, name);
	return found;
}

int puts(const char *s)
{
	static int (*next)(const char *);
	if (!next)
		next = (int (*)(const char *))dlsym(RTLD_NEXT, "puts");
	return next ? next(s) : EOF;
}

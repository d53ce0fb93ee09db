/*
 * hook_dlsym.c - dlsym, wrapped only for lookups in the real driver.
 *
 * The CUDA runtime (and many frameworks) dlopen libcuda.so.1 and take its
 * entry points with dlsym on that handle - cuGetProcAddress first of all -
 * which the dynamic linker's interposition does not see. So lookups on the
 * handle of libcuda.so.1 or libnvidia-ml.so.1 for a name the limiter
 * controls answer with the limiter's wrapper (only when the real library
 * has that name, so probing for a feature still tells the truth).
 *
 * Every other lookup must behave exactly as if this wrapper did not exist,
 * including RTLD_NEXT, which glibc resolves relative to the object that
 * called dlsym (found from the return address). The forwarding call is
 * therefore a tail call: this file is always compiled with optimisation and
 * sibling calls (see CMakeLists.txt), so the real dlsym is entered by a jump
 * and sees the application's return address, not ours. The integration test
 * limiter_dlsym.sh checks RTLD_NEXT from an object loaded after this library.
 */
#include "limiter/libvxpu.h"

#include <dlfcn.h>

VXPU_EXPORT void *dlsym(void *handle, const char *symbol);

VXPU_EXPORT void *dlsym(void *handle, const char *symbol)
{
	if (VXPU_UNLIKELY(!limiter_real_dlsym))
		limiter_resolve_dlsym();
	if (handle != RTLD_DEFAULT && handle != RTLD_NEXT &&
	    (symbol[0] == 'c' || symbol[0] == 'n') && limiter_is_driver_handle(handle)) {
		void *real = limiter_real_dlsym(handle, symbol);
		void *wrapper = real ? limiter_hook_by_name(symbol) : NULL;
		return wrapper ? wrapper : real;
	}
	return limiter_real_dlsym(handle, symbol);
}

/*
 * hook_array.c - CUDA arrays (1D/2D/3D, layered, cube maps), mipmapped
 * arrays, and module images: device memory that is not a pointer.
 *
 * The driver does not say what an array costs, so the charge is computed
 * from the descriptor the way the driver lays arrays out: rows padded to
 * 512 bytes, times height and depth (six faces for a cube map), the whole
 * rounded up to 64 KiB (tiling granularity); a mipmapped array is the sum
 * of its levels, each dimension halved per level (at least 1; the layer
 * count of a layered array is not halved). Formats whose element size the
 * limiter does not know are charged 16 bytes per element, the largest any
 * format has, so an unusual format can never cost less than charged.
 *
 * A module image is charged by its size as read from its header: an ELF
 * cubin from its section and program header tables, a fat binary by its
 * largest embedded image (only one architecture's code is loaded), PTX by
 * its length; cuModuleLoad by the file's size. An image of unknown form is
 * charged nothing and logged at debug level.
 */
#include "limiter/libvxpu.h"

#include "common/log.h"

#include <elf.h>
#include <string.h>
#include <sys/stat.h>

#define ARRAY_ROUND ((uint64_t)64 * 1024)
#define ARRAY_MAX_ELEMENT_BYTES 16u

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	uint64_t p;
	return __builtin_mul_overflow(a, b, &p) ? UINT64_MAX : p;
}

/* Bytes one array level costs. */
static uint64_t array_level_bytes(const CUDA_ARRAY3D_DESCRIPTOR *d)
{
	uint64_t element = vxpu_cuda_format_bytes(d->Format);
	if (element == 0)
		element = ARRAY_MAX_ELEMENT_BYTES;
	else
		element *= d->NumChannels ? d->NumChannels : 1;
	uint64_t row = limiter_round_up(mul_sat(d->Width, element), LIMITER_ALLOC_ALIGN);
	uint64_t bytes = mul_sat(mul_sat(row, d->Height ? d->Height : 1), d->Depth ? d->Depth : 1);
	if (d->Flags & CUDA_ARRAY3D_CUBEMAP)
		bytes = mul_sat(bytes, 6);
	return limiter_round_up(bytes, ARRAY_ROUND);
}

static uint64_t mipmap_bytes(const CUDA_ARRAY3D_DESCRIPTOR *d, unsigned int levels)
{
	uint64_t total = 0;
	CUDA_ARRAY3D_DESCRIPTOR ld = *d;
	for (unsigned int i = 0; i < levels && i < 64; i++) {
		uint64_t b = array_level_bytes(&ld);
		total = total > UINT64_MAX - b ? UINT64_MAX : total + b;
		ld.Width = ld.Width > 1 ? ld.Width / 2 : 1;
		ld.Height = ld.Height > 1 ? ld.Height / 2 : ld.Height;
		if (!(d->Flags & CUDA_ARRAY3D_LAYERED))
			ld.Depth = ld.Depth > 1 ? ld.Depth / 2 : ld.Depth;
	}
	return total;
}

/*
 * Charges `bytes` on the current context's device around create(); the
 * handle it returns is recorded in table. passthrough: no current context.
 */
static CUresult create_charged(struct vxpu_track *table, uint64_t bytes,
                               CUresult (*create)(void *arg, uint64_t *handle),
                               CUresult (*destroy)(uint64_t handle), void *arg)
{
	CUresult rc = limiter_ready();
	if (rc != CUDA_SUCCESS)
		return rc;
	CUcontext ctx = NULL;
	uint64_t handle = 0;
	if (limiter.cuda.cuCtxGetCurrent(&ctx) != CUDA_SUCCESS || !ctx || bytes == 0)
		return create(arg, &handle); /* the driver gives its own error */
	int device = limiter_ctx_device(ctx, NULL);
	if (device < 0)
		return CUDA_ERROR_INVALID_CONTEXT; /* a device we cannot account: fail closed */
	rc = limiter_reserve(device, bytes);
	if (rc != CUDA_SUCCESS)
		return rc;
	rc = create(arg, &handle);
	if (rc != CUDA_SUCCESS) {
		limiter_cancel(device, bytes);
		return rc;
	}
	if (vxpu_track_put(table, handle, bytes, (uint64_t)device, (uint64_t)(uintptr_t)ctx) != 0) {
		destroy(handle);
		limiter_cancel(device, bytes);
		vxpu_log(VXPU_LOG_WARN, "refused: the limiter's table is full", (char *)NULL);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	limiter_commit(device, bytes, bytes);
	return CUDA_SUCCESS;
}

/* Destroys a recorded object and gives its charge back (only if the driver agreed). */
static CUresult destroy_charged(struct vxpu_track *table, uint64_t handle,
                                CUresult (*destroy)(uint64_t handle))
{
	uint64_t bytes, device, ctx;
	if (!atomic_load(&limiter.attached) ||
	    !vxpu_track_take(table, handle, &bytes, &device, &ctx))
		return destroy(handle);
	CUresult rc = destroy(handle);
	if (rc != CUDA_SUCCESS) {
		vxpu_track_put(table, handle, bytes, device, ctx);
		return rc;
	}
	limiter_release((int)device, bytes);
	return rc;
}

/* ---- arrays --------------------------------------------------------------------- */

struct array_args {
	CUarray *out;
	const CUDA_ARRAY_DESCRIPTOR *desc2d;
	const CUDA_ARRAY3D_DESCRIPTOR *desc3d;
	CUmipmappedArray *mip_out;
	unsigned int levels;
};

static CUresult real_array_destroy(uint64_t h)
{
	return limiter.cuda.cuArrayDestroy((CUarray)(uintptr_t)h);
}

static CUresult real_mipmap_destroy(uint64_t h)
{
	return limiter.cuda.cuMipmappedArrayDestroy((CUmipmappedArray)(uintptr_t)h);
}

static CUresult create_array_2d(void *arg, uint64_t *handle)
{
	struct array_args *a = arg;
	CUresult rc = limiter.cuda.cuArrayCreate_v2(a->out, a->desc2d);
	if (rc == CUDA_SUCCESS)
		*handle = (uint64_t)(uintptr_t)*a->out;
	return rc;
}

static CUresult create_array_3d(void *arg, uint64_t *handle)
{
	struct array_args *a = arg;
	CUresult rc = limiter.cuda.cuArray3DCreate_v2(a->out, a->desc3d);
	if (rc == CUDA_SUCCESS)
		*handle = (uint64_t)(uintptr_t)*a->out;
	return rc;
}

static CUresult create_mipmap(void *arg, uint64_t *handle)
{
	struct array_args *a = arg;
	CUresult rc = limiter.cuda.cuMipmappedArrayCreate(a->mip_out, a->desc3d, a->levels);
	if (rc == CUDA_SUCCESS)
		*handle = (uint64_t)(uintptr_t)*a->mip_out;
	return rc;
}

VXPU_EXPORT CUresult cuArrayCreate_v2(CUarray *pHandle, const CUDA_ARRAY_DESCRIPTOR *pAllocateArray)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuArrayCreate_v2)
		return CUDA_ERROR_NOT_SUPPORTED;
	if (!pHandle || !pAllocateArray)
		return limiter.cuda.cuArrayCreate_v2(pHandle, pAllocateArray);
	CUDA_ARRAY3D_DESCRIPTOR d = {.Width = pAllocateArray->Width,
	                             .Height = pAllocateArray->Height,
	                             .Format = pAllocateArray->Format,
	                             .NumChannels = pAllocateArray->NumChannels};
	struct array_args a = {.out = pHandle, .desc2d = pAllocateArray};
	return create_charged(&limiter.arrays, array_level_bytes(&d), create_array_2d,
	                      real_array_destroy, &a);
}

VXPU_EXPORT CUresult cuArray3DCreate_v2(CUarray *pHandle,
                                        const CUDA_ARRAY3D_DESCRIPTOR *pAllocateArray)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuArray3DCreate_v2)
		return CUDA_ERROR_NOT_SUPPORTED;
	if (!pHandle || !pAllocateArray)
		return limiter.cuda.cuArray3DCreate_v2(pHandle, pAllocateArray);
	struct array_args a = {.out = pHandle, .desc3d = pAllocateArray};
	return create_charged(&limiter.arrays, array_level_bytes(pAllocateArray), create_array_3d,
	                      real_array_destroy, &a);
}

VXPU_EXPORT CUresult cuArrayDestroy(CUarray hArray)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuArrayDestroy)
		return CUDA_ERROR_NOT_SUPPORTED;
	return destroy_charged(&limiter.arrays, (uint64_t)(uintptr_t)hArray, real_array_destroy);
}

VXPU_EXPORT CUresult cuMipmappedArrayCreate(CUmipmappedArray *pHandle,
                                            const CUDA_ARRAY3D_DESCRIPTOR *pMipmappedArrayDesc,
                                            unsigned int numMipmapLevels)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuMipmappedArrayCreate)
		return CUDA_ERROR_NOT_SUPPORTED;
	if (!pHandle || !pMipmappedArrayDesc || numMipmapLevels == 0)
		return limiter.cuda.cuMipmappedArrayCreate(pHandle, pMipmappedArrayDesc,
		                                           numMipmapLevels);
	struct array_args a = {
	        .mip_out = pHandle, .desc3d = pMipmappedArrayDesc, .levels = numMipmapLevels};
	return create_charged(&limiter.arrays, mipmap_bytes(pMipmappedArrayDesc, numMipmapLevels),
	                      create_mipmap, real_mipmap_destroy, &a);
}

VXPU_EXPORT CUresult cuMipmappedArrayDestroy(CUmipmappedArray hMipmappedArray)
{
	if (limiter_cuda_real_ready() != 0 || !limiter.cuda.cuMipmappedArrayDestroy)
		return CUDA_ERROR_NOT_SUPPORTED;
	return destroy_charged(&limiter.arrays, (uint64_t)(uintptr_t)hMipmappedArray,
	                       real_mipmap_destroy);
}

/* ---- module images ----------------------------------------------------------------- */

#define FATBIN_MAGIC 0xBA55ED50u
/* Largest image size read from a header; anything claiming more is not trusted. */
#define IMAGE_MAX ((uint64_t)1 << 34)

struct fatbin_header {
	uint32_t magic;
	uint16_t version;
	uint16_t header_size;
	uint64_t fat_size; /* bytes of entries after the header */
};

struct fatbin_entry {
	uint16_t kind;
	uint16_t unknown;
	uint32_t header_size;
	uint64_t payload_size;
};

/* Size of the largest image in a fat binary; 0 when it does not parse. */
static uint64_t fatbin_largest(const unsigned char *p)
{
	struct fatbin_header h;
	memcpy(&h, p, sizeof(h));
	if (h.magic != FATBIN_MAGIC || h.header_size < sizeof(h) || h.fat_size > IMAGE_MAX)
		return 0;
	uint64_t largest = 0, at = h.header_size, end = (uint64_t)h.header_size + h.fat_size;
	for (int n = 0; at + sizeof(struct fatbin_entry) <= end && n < 4096; n++) {
		struct fatbin_entry e;
		memcpy(&e, p + at, sizeof(e));
		if (e.header_size < sizeof(e) || e.payload_size > IMAGE_MAX)
			break;
		if (e.payload_size > largest)
			largest = e.payload_size;
		at += (uint64_t)e.header_size + e.payload_size;
	}
	return largest;
}

/* Size of an ELF image from its header tables; 0 when it is not 64-bit ELF. */
static uint64_t elf_size(const unsigned char *p)
{
	Elf64_Ehdr eh;
	memcpy(&eh, p, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64)
		return 0;
	uint64_t sections = eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize;
	uint64_t programs = eh.e_phoff + (uint64_t)eh.e_phnum * eh.e_phentsize;
	uint64_t size = sections > programs ? sections : programs;
	return size > IMAGE_MAX ? 0 : size;
}

/* What loading image costs on the device (see the file comment). */
static uint64_t image_bytes(const void *image)
{
	if (!image)
		return 0;
	const unsigned char *p = image;
	uint64_t size = 0;
	/* Byte by byte, so a short PTX string is never read past its end. */
	if (p[0] == ELFMAG0 && p[1] == ELFMAG1 && p[2] == ELFMAG2 && p[3] == ELFMAG3)
		size = elf_size(p);
	else if (p[0] == 0x50 && p[1] == 0xED && p[2] == 0x55 && p[3] == 0xBA)
		size = fatbin_largest(p);
	else
		size = strnlen((const char *)p, (size_t)IMAGE_MAX); /* PTX text */
	return size ? limiter_round_up(size, LIMITER_ALLOC_ALIGN) : 0;
}

struct module_args {
	CUmodule *out;
	const void *image;
	const char *fname;
	unsigned int num_options;
	CUjit_option *options;
	void **values;
	int kind; /* 0 data, 1 data ex, 2 fat binary, 3 file */
};

static CUresult create_module(void *arg, uint64_t *handle)
{
	struct module_args *m = arg;
	CUresult rc;
	switch (m->kind) {
	case 0:
		rc = limiter.cuda.cuModuleLoadData(m->out, m->image);
		break;
	case 1:
		rc = limiter.cuda.cuModuleLoadDataEx(m->out, m->image, m->num_options, m->options,
		                                     m->values);
		break;
	case 2:
		rc = limiter.cuda.cuModuleLoadFatBinary(m->out, m->image);
		break;
	default:
		rc = limiter.cuda.cuModuleLoad(m->out, m->fname);
		break;
	}
	if (rc == CUDA_SUCCESS && m->out)
		*handle = (uint64_t)(uintptr_t)*m->out;
	return rc;
}

static CUresult real_module_unload(uint64_t h)
{
	return limiter.cuda.cuModuleUnload((CUmodule)(uintptr_t)h);
}

static CUresult module_load(struct module_args *m, uint64_t bytes)
{
	if (!m->out)
		bytes = 0; /* the driver refuses it */
	else if (bytes == 0)
		vxpu_log(VXPU_LOG_DEBUG, "module image of unknown form: not charged", (char *)NULL);
	return create_charged(&limiter.modules, bytes, create_module, real_module_unload, m);
}

#define MODULE_REAL(name)                                                                          \
	do {                                                                                       \
		if (limiter_cuda_real_ready() != 0 || !limiter.cuda.name)                          \
			return CUDA_ERROR_NOT_SUPPORTED;                                           \
	} while (0)

VXPU_EXPORT CUresult cuModuleLoadData(CUmodule *module, const void *image)
{
	MODULE_REAL(cuModuleLoadData);
	struct module_args m = {.out = module, .image = image, .kind = 0};
	return module_load(&m, image_bytes(image));
}

VXPU_EXPORT CUresult cuModuleLoadDataEx(CUmodule *module, const void *image,
                                        unsigned int numOptions, CUjit_option *options,
                                        void **optionValues)
{
	MODULE_REAL(cuModuleLoadDataEx);
	struct module_args m = {.out = module,
	                        .image = image,
	                        .num_options = numOptions,
	                        .options = options,
	                        .values = optionValues,
	                        .kind = 1};
	return module_load(&m, image_bytes(image));
}

VXPU_EXPORT CUresult cuModuleLoadFatBinary(CUmodule *module, const void *fatCubin)
{
	MODULE_REAL(cuModuleLoadFatBinary);
	struct module_args m = {.out = module, .image = fatCubin, .kind = 2};
	return module_load(&m, image_bytes(fatCubin));
}

VXPU_EXPORT CUresult cuModuleLoad(CUmodule *module, const char *fname)
{
	MODULE_REAL(cuModuleLoad);
	struct stat st;
	uint64_t bytes = fname && stat(fname, &st) == 0 && st.st_size > 0
	                         ? limiter_round_up((uint64_t)st.st_size, LIMITER_ALLOC_ALIGN)
	                         : 0;
	struct module_args m = {.out = module, .fname = fname, .kind = 3};
	return module_load(&m, bytes);
}

VXPU_EXPORT CUresult cuModuleUnload(CUmodule hmod)
{
	MODULE_REAL(cuModuleUnload);
	return destroy_charged(&limiter.modules, (uint64_t)(uintptr_t)hmod, real_module_unload);
}

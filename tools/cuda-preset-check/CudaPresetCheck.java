import org.bytedeco.cuda.cudart.cudaDeviceProp;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.SizeTPointer;
import org.bytedeco.cuda.global.cudart;

/**
 * Does the JavaCPP CUDA preset (org.bytedeco:cuda) load on this machine and answer device queries?
 * Run on the GPU machine by tools/cuda-preset-check/run.sh; emovec relies on it only where this passes.
 */
public class CudaPresetCheck {
    public static void main(String[] args) {
        System.out.println("java " + System.getProperty("java.version") + ", os.arch " + System.getProperty("os.arch"));
        try {
            Loader.load(cudart.class);
        } catch (Throwable e) {
            System.out.println("LOAD FAILED: " + e);
            System.exit(1);
        }
        int[] version = new int[1];
        cudart.cudaRuntimeGetVersion(version);
        int[] driver = new int[1];
        cudart.cudaDriverGetVersion(driver);
        int[] count = new int[1];
        int rc = cudart.cudaGetDeviceCount(count);
        System.out.printf("runtime %d, driver %d, cudaGetDeviceCount rc=%d count=%d%n", version[0], driver[0], rc, count[0]);
        for (int d = 0; d < count[0]; d++) {
            cudaDeviceProp p = new cudaDeviceProp();
            cudart.cudaGetDeviceProperties(p, d);
            cudart.cudaSetDevice(d);
            SizeTPointer free = new SizeTPointer(1), total = new SizeTPointer(1);
            int mrc = cudart.cudaMemGetInfo(free, total);
            System.out.printf("device %d: %s, sm_%d%d, %d SMs, memory rc=%d free %.1f GiB of %.1f GiB%n", d, p.name().getString(),
                    p.major(), p.minor(), p.multiProcessorCount(), mrc, free.get() / 1073741824.0, total.get() / 1073741824.0);
        }
        System.out.println(rc == 0 && count[0] > 0 ? "CUDA PRESET OK" : "CUDA PRESET FAILED");
    }
}

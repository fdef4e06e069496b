plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "dev.kerasdalle.sample"
    compileSdk = 35
    defaultConfig {
        applicationId = "dev.kerasdalle.sample"
        minSdk = 24 // android.icu.text.Normalizer2.getNFKCCasefoldInstance()
        targetSdk = 35
        versionCode = 1
        versionName = "1.0"
    }
    androidResources {
        noCompress += "tflite" // memory-mapped from the APK
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions {
        jvmTarget = "17"
    }
    testOptions {
        unitTests.all {
            it.systemProperty("vectors.dir", rootProject.file("../../tests/data").path)
        }
    }
}

dependencies {
    implementation("com.google.ai.edge.litert:litert:1.4.1") // org.tensorflow.lite.Interpreter, builtin ops
    implementation("androidx.appcompat:appcompat:1.7.0")
    testImplementation("junit:junit:4.13.2")
    testImplementation("com.ibm.icu:icu4j:72.1") // NFKC_Casefold on the JVM, as android.icu on the device
}
